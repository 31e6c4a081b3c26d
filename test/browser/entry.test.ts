// The browser entry as users get it: dist/browser.js (built by `npm run build`), one ES module
// that imports nothing, so no Node built-in can be reached from it; small; and the package's
// `browser` condition points at it. Its behaviour in real browsers: test/interop/browsers.test.ts.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const entry = new URL('dist/browser.js', root);

describe('browser entry (dist/browser.js)', () => {
  it('imports nothing: no module, no Node built-in', () => {
    const code = readFileSync(entry, 'utf8');
    expect(code).not.toMatch(/^\s*import\s/m);
    expect(code).not.toMatch(/\bimport\s*\(/);
    expect(code).not.toMatch(/\brequire\s*\(/);
    expect(code).not.toMatch(/node:/);
    expect(code).not.toMatch(/\b(Buffer|process)\./);
  });

  it('bundles for the browser from src/browser.ts with every Node module unresolvable', async () => {
    // platform 'browser' and no externals: a `node:` import anywhere behind the entry fails here.
    const result = await build({
      entryPoints: [new URL('src/browser.ts', root).pathname],
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'esm',
      minify: true,
      logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
  });

  it('stays small: under 4 KiB minified and gzipped', async () => {
    const { outputFiles } = await build({ entryPoints: [entry.pathname], write: false, minify: true, format: 'esm', logLevel: 'silent' });
    const gzipped = gzipSync(outputFiles[0]!.contents, { level: 9 }).byteLength;
    expect(gzipped).toBeLessThan(4096);
  });

  it('is what the `browser` condition and the ./browser subpath resolve to', () => {
    const manifest = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
      exports: Record<string, Record<string, unknown>>;
    };
    const dot = manifest.exports['.']!;
    expect(Object.keys(dot)[0]).toBe('browser'); // conditions match in order: before import/require
    expect(dot.browser).toEqual({ types: './dist/browser.d.ts', default: './dist/browser.js' });
    expect(manifest.exports['./browser']).toEqual(dot.browser);
  });

  it('a bundler targeting browsers resolves `import \'websocketstream\'` to it', async () => {
    const { metafile } = await build({
      stdin: { contents: "export * from 'websocketstream'", resolveDir: new URL('.', root).pathname },
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'esm',
      metafile: true,
      logLevel: 'silent',
    });
    expect(Object.keys(metafile.inputs).sort()).toEqual(['<stdin>', 'dist/browser.js']);
  });

  it('falls back where the runtime has no WebSocketStream, and keeps the API\'s class names', async () => {
    const browser = await import(entry.href) as typeof import('../../src/browser.js');
    expect(browser.isNativeWebSocketStream).toBe(false);
    expect(browser.WebSocketError.name).toBe('WebSocketError');
    expect(browser.WebSocketStream.name).toBe('WebSocketStream');
    const error = new browser.WebSocketError('bye', { closeCode: 4000, reason: 'r' });
    expect(error).toBeInstanceOf(DOMException);
    expect([error.name, error.closeCode, error.reason]).toEqual(['WebSocketError', 4000, 'r']);
    expect(() => new browser.WebSocketError('', { closeCode: 1001 })).toThrow(expect.objectContaining({ name: 'InvalidAccessError' }));
  });
});
