// Child Node processes for tests that must run outside vitest: a private bundle of src/ (Node 20
// cannot load TypeScript) and a bounded `node` run.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Bundles src/index.ts into a temporary directory for child processes (which cannot load
 * TypeScript on Node 20). A private copy avoids racing other test files or `npm run build` over
 * dist/, and always tests the current source. Returns the path of the ESM file.
 */
export async function bundleLibrary(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'wss-bundle-'));
  bundleDirs.push(dir);
  const { build } = await import('tsup');
  await build({
    entry: { index: fileURLToPath(new URL('../../src/index.ts', import.meta.url)) },
    format: ['esm'],
    outDir: dir,
    platform: 'node',
    target: 'node20',
    config: false,
    silent: true,
    dts: false,
    sourcemap: false,
    clean: false,
  });
  return join(dir, 'index.js');
}

const bundleDirs: string[] = [];

/** Removes the bundles made by bundleLibrary(); call it from afterAll. */
export async function removeBundles(): Promise<void> {
  for (const dir of bundleDirs.splice(0)) await rm(dir, { recursive: true, force: true });
}

/** Runs `node` with arguments; resolves with exit code and output (never rejects on a non-zero code). */
export function runNode(
  args: string[],
  timeoutMs = 15_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      const err = error as (NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals }) | null;
      resolve({
        code: err ? (typeof err.code === 'number' ? err.code : null) : 0,
        signal: err?.signal ?? null,
        stdout,
        stderr,
      });
    });
  });
}
