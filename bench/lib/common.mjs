// Small helpers shared by the bench scripts: units, a rate limiter and an RSS meter.

import { performance } from 'node:perf_hooks';

export const MiB = 1024 * 1024;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const toMiB = (bytes) => bytes / MiB;

/** Round to one decimal for display / JSON. */
export const round1 = (x) => Math.round(x * 10) / 10;

/** Byte size of a WebSocket chunk (string, Buffer, Uint8Array or ArrayBuffer). */
export function chunkBytes(chunk) {
  return typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
}

/**
 * A consumer that can only process `bytesPerSecond`.
 *
 * `take(n)` is awaited after each chunk. It compares the bytes consumed so far with
 * the time elapsed since the first chunk and sleeps until the two agree again. Because
 * the schedule is cumulative, timer jitter (setTimeout is ~1 ms granular, a 64 KiB
 * chunk at 20 MiB/s lasts 3.1 ms) does not accumulate into drift.
 */
export function createThrottle(bytesPerSecond) {
  let startMs = 0;
  let consumed = 0;
  return {
    async take(bytes) {
      const now = performance.now();
      if (startMs === 0) startMs = now;
      consumed += bytes;
      const dueMs = startMs + (consumed / bytesPerSecond) * 1000;
      if (dueMs - now >= 1) await sleep(dueMs - now);
    },
  };
}

/**
 * Samples process RSS on a timer and keeps the peak and a timeline.
 * Call `start()` once the connection is open: the baseline is taken there, after a
 * forced GC when node runs with --expose-gc, so that the growth we report is what the
 * transfer costs and not start-up garbage.
 */
export function createRssMeter({ intervalMs = 50 } = {}) {
  let t0 = 0;
  let baseline = 0;
  let peak = 0;
  let baselineArrayBuffers = 0;
  let peakArrayBuffers = 0;
  let timer = null;
  const timeline = []; // [t_ms, rss_MiB]

  // arrayBuffers is tracked too because it explains RSS: memory held by Buffers,
  // including dead ones the GC has not collected yet.
  const sample = () => {
    const { rss, arrayBuffers } = process.memoryUsage();
    if (rss > peak) peak = rss;
    if (arrayBuffers > peakArrayBuffers) peakArrayBuffers = arrayBuffers;
    timeline.push([Math.round(performance.now() - t0), round1(toMiB(rss))]);
    return { rss, arrayBuffers };
  };

  return {
    start() {
      if (typeof globalThis.gc === 'function') globalThis.gc();
      t0 = performance.now();
      ({ rss: baseline, arrayBuffers: baselineArrayBuffers } = sample());
      peak = baseline;
      peakArrayBuffers = baselineArrayBuffers;
      timer = setInterval(sample, intervalMs);
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
      sample();
    },
    sample,
    get started() {
      return timer !== null || baseline > 0;
    },
    get baselineBytes() {
      return baseline;
    },
    get peakGrowthBytes() {
      return Math.max(0, peak - baseline);
    },
    get peakArrayBuffersGrowthBytes() {
      return Math.max(0, peakArrayBuffers - baselineArrayBuffers);
    },
    get elapsedMs() {
      return performance.now() - t0;
    },
    timeline,
  };
}

/** Median of a non-empty numeric array. */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
