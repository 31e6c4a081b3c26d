#!/usr/bin/env node
// `npm run demo`: backpressure you can watch.
//
// An embedded local server floods --total-mib (default 256) MiB as fast as TCP allows.
// Our WebSocketStream's readable is piped into a temp file that only takes --rate-mib
// (default 20) MiB/s: a slow disk, as a Node Writable behind toWritableStream(). There is
// no flow-control code here: pipeTo() stops reading when the file's byte queue is full,
// the library stops reading the socket, TCP pushes back on the server, and RSS stays flat
// while the server has hundreds of MiB left to send.
//
//   node examples/demo.mjs [--total-mib 256] [--rate-mib 20]

import { createWriteStream } from 'node:fs';
import { stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { toWritableStream, WebSocketStream } from 'websocketstream';
import { startFloodServer } from '../bench/lib/flood-server.mjs';
import { MiB, chunkBytes, createRssMeter, createThrottle, round1, toMiB } from '../bench/lib/common.mjs';

const { totalBytes, rateBytes } = readOptions();
process.exit(await main());

function readOptions() {
  const { values } = parseArgs({
    options: {
      'total-mib': { type: 'string', default: process.env.DEMO_TOTAL_MIB ?? '256' },
      'rate-mib': { type: 'string', default: process.env.DEMO_RATE_MIB ?? '20' },
    },
  });
  const totalMiB = Number(values['total-mib']);
  const rateMiB = Number(values['rate-mib']);
  if (!(totalMiB > 0) || !(rateMiB > 0)) throw new Error('--total-mib and --rate-mib must be positive numbers');
  return { totalBytes: Math.round(totalMiB * MiB), rateBytes: rateMiB * MiB };
}

async function main() {
  const server = await startFloodServer({ totalBytes });
  const filePath = join(tmpdir(), `websocketstream-demo-${process.pid}.bin`);
  const meter = createRssMeter({ intervalMs: 50 });
  const counter = { bytes: 0 };
  let progress = null;

  // One abort path for everything: the watchdog and Ctrl-C both end the pipe,
  // which cancels the readable (closing the WebSocket) and aborts the file writer.
  const controller = new AbortController();
  const limitMs = ((toMiB(totalBytes) / toMiB(rateBytes)) * 2 + 30) * 1000;
  const watchdog = setTimeout(() => controller.abort(new Error(`gave up after ${limitMs / 1000} s`)), limitMs);
  process.once('SIGINT', () => controller.abort(new Error('interrupted')));

  console.log(
    `demo: ${toMiB(totalBytes)} MiB flood from ${server.url} -> ${filePath}, written at ${toMiB(rateBytes)} MiB/s`,
  );

  try {
    const wss = new WebSocketStream(server.url, { signal: controller.signal });
    const { readable } = await wss.opened;
    meter.start();
    progress = startProgress(meter, counter);

    const file = toWritableStream(slowFile(filePath, rateBytes, counter));
    await readable.pipeTo(file, { signal: controller.signal });
    const { closeCode, reason } = await wss.closed;

    progress.stop();
    meter.stop();
    const { size } = await stat(filePath);
    printSummary({ meter, size, closeCode, reason });
    return size === totalBytes ? 0 : 1;
  } catch (err) {
    progress?.stop();
    console.error(`demo failed: ${err?.message ?? err}`);
    return 1;
  } finally {
    clearTimeout(watchdog);
    await unlink(filePath).catch(() => {});
    await server.close();
  }
}

/**
 * The "slow disk": a Node Writable that writes to `path` at `bytesPerSecond`. It stands
 * where a real file would, so the demo shows what a user's pipeTo(file) does: while the
 * disk is busy, toWritableStream()'s byte queue fills and pipeTo() stops reading.
 */
function slowFile(path, bytesPerSecond, counter) {
  const throttle = createThrottle(bytesPerSecond);
  const file = createWriteStream(path);
  return new Writable({
    write(chunk, _encoding, callback) {
      counter.bytes += chunkBytes(chunk);
      throttle.take(chunkBytes(chunk)).then(() => file.write(chunk, callback), callback);
    },
    final(callback) {
      file.end(callback);
    },
    destroy(error, callback) {
      file.destroy();
      callback(error);
    },
  });
}

/**
 * Live progress: a `\r`-refreshed line 4 times a second on a terminal, one line a
 * second otherwise (so logs and CI output stay readable).
 */
function startProgress(meter, counter) {
  const tty = Boolean(process.stdout.isTTY);
  let lastBytes = 0;
  let lastMs = performance.now();
  let width = 0;

  const render = () => {
    const now = performance.now();
    const rate = toMiB(counter.bytes - lastBytes) / ((now - lastMs) / 1000);
    lastBytes = counter.bytes;
    lastMs = now;
    const rss = meter.sample().rss;
    const line =
      `received ${toMiB(counter.bytes).toFixed(1).padStart(6)} / ${toMiB(totalBytes)} MiB` +
      `  ${rate.toFixed(1).padStart(5)} MiB/s` +
      `  RSS ${toMiB(rss).toFixed(1)} MiB (+${toMiB(rss - meter.baselineBytes).toFixed(1)},` +
      ` peak +${toMiB(meter.peakGrowthBytes).toFixed(1)})`;
    if (tty) {
      // Pad so a shorter line fully overwrites the previous one.
      width = Math.max(width, line.length);
      process.stdout.write(`\r${line.padEnd(width)}`);
    } else {
      process.stdout.write(`${line}\n`);
    }
  };

  const timer = setInterval(render, tty ? 250 : 1000);
  return {
    stop() {
      clearInterval(timer);
      render();
      if (tty) process.stdout.write('\n');
    },
  };
}

function printSummary({ meter, size, closeCode, reason }) {
  const seconds = meter.elapsedMs / 1000;
  console.log(
    `done: ${round1(toMiB(size))} MiB written in ${seconds.toFixed(1)} s` +
      ` (${(toMiB(size) / seconds).toFixed(1)} MiB/s), close code ${closeCode}${reason ? ` "${reason}"` : ''}`,
  );
  console.log(
    `RSS: baseline ${round1(toMiB(meter.baselineBytes))} MiB,` +
      ` peak growth +${round1(toMiB(meter.peakGrowthBytes))} MiB` +
      ` (Buffers +${round1(toMiB(meter.peakArrayBuffersGrowthBytes))} MiB)` +
      ` while ${toMiB(totalBytes)} MiB went through`,
  );
  if (size !== totalBytes) console.log(`WARNING: expected ${totalBytes} bytes, file had ${size}`);
  console.log('temp file removed');
}
