// Smoke test of bench/receive.mjs (the client receive bench), with tiny counts so that it cannot
// rot: every peer runs in its own process against the flood server and receives every message,
// the tables and the JSON are printed, and the server's ceiling is in the same run.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('bench/receive.mjs', () => {
  it('runs every peer at 16 B and 1 KiB, text and binary, and reports rates, CPU per message and ratios', async () => {
    const { stdout } = await run(
      process.execPath,
      ['bench/receive.mjs', '--runs', '1', '--scale', '0.002', '--timeout', '30', '--node', process.execPath],
      { timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
    );
    const lines = stdout.trim().split('\n');
    const report = JSON.parse(lines.at(-1)!);
    expect(report.node).toBe(process.version);

    const expectedPeers = ['raw-tcp', 'ws', 'ws+ReadableStream', 'undici-wss', 'undici-ws', 'ours-read', 'ours-read-tuned', 'ours-for-await', 'ours-ws', 'rs-floor', 'rs-floor-owned', 'rs-floor-owned-tuned'];
    if (typeof globalThis.WebSocket === 'function') expectedPeers.push('node-ws');
    expect([...report.peers].sort()).toEqual(expectedPeers.sort());

    // One result per size and peer, times two types for the WebSocket clients.
    const typeless = new Set(['raw-tcp', 'rs-floor', 'rs-floor-owned', 'rs-floor-owned-tuned']);
    const perSize = expectedPeers.reduce((n, peer) => n + (typeless.has(peer) ? 1 : 2), 0);
    expect(report.results).toHaveLength(2 * perSize);
    for (const result of report.results) {
      expect(result.count).toBeGreaterThan(0);
      expect(result.bytes).toBe(result.count * result.size);
      expect(result.rate).toBeGreaterThan(0);
      expect(result.cpuMicrosPerMessage).toBeGreaterThan(0);
    }
    expect(report.ratios).toHaveLength(4);
    for (const row of report.ratios) {
      for (const column of ['read / undici WSS', 'read / ws+RS', 'read / floor-owned', 'read-tuned / floor-owned-tuned', 'for-await / undici WSS']) {
        expect(row[column]).toBeGreaterThan(0);
      }
    }
    expect(stdout).toContain('| size | type | peer | msg/s | MiB/s | CPU µs/msg | messages |');
    expect(stdout).toContain('| 1024 | - | raw-tcp |');
  }, 120_000);

  it('--only picks peers and rejects unknown ones', async () => {
    const { stdout } = await run(
      process.execPath,
      ['bench/receive.mjs', '--runs', '1', '--scale', '0.001', '--sizes', '16', '--types', 'binary', '--only', 'raw-tcp,ours-read'],
      { timeout: 60_000 },
    );
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(report.results.map((r: { peer: string }) => r.peer)).toEqual(['raw-tcp', 'ours-read']);
    await expect(run(process.execPath, ['bench/receive.mjs', '--only', 'nobody'], { timeout: 30_000 })).rejects.toThrow(/unknown "nobody"/);
  }, 90_000);
});
