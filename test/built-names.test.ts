// What users get from the built package (dist/, ESM and CJS; `npm test` builds first): every
// exported class and function keeps its own name (esbuild renamed WebSocketError to
// _WebSocketError), and console.log of a WebSocketError shows its closeCode and reason.
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';

type Package = Record<string, unknown>;

const builds: Array<[string, () => Promise<Package>]> = [
  ['ESM', async () => (await import(pathToFileURL(resolve('dist/index.js')).href)) as Package],
  ['CJS', async () => createRequire(import.meta.url)(resolve('dist/index.cjs')) as Package],
];

describe.each(builds)('the %s build', (_format, load) => {
  it('exports every class and function under its own name', async () => {
    const exported = await load();
    const functions = Object.entries(exported).filter(([, value]) => typeof value === 'function');
    expect(functions.length).toBeGreaterThanOrEqual(8);
    for (const [name, value] of functions) expect({ name, actual: (value as () => void).name }).toEqual({ name, actual: name });
  });

  it('names WebSocketError and its instances WebSocketError', async () => {
    const { WebSocketError } = (await load()) as { WebSocketError: new (m: string, i?: object) => Error };
    const error = new WebSocketError('x', { closeCode: 4567, reason: 'bye' });
    expect(error.constructor.name).toBe('WebSocketError');
    expect(error.name).toBe('WebSocketError');
    expect(Object.prototype.toString.call(error)).toBe('[object WebSocketError]');
    expect(String(error)).toBe('WebSocketError: x');
    expect(error.stack).toMatch(/^WebSocketError: x\n/);
  });

  it('util.inspect shows closeCode and reason, without adding own properties', async () => {
    const { WebSocketError } = (await load()) as { WebSocketError: new (m: string, i?: object) => Error };
    const error = new WebSocketError('closing', { closeCode: 4567, reason: 'bye' });
    const printed = inspect(error);
    expect(printed).toMatch(/^WebSocketError: closing\n/);
    expect(printed).not.toContain('_WebSocketError');
    expect(printed).toMatch(/\{\n {2}closeCode: 4567,\n {2}reason: 'bye'\n\}$/);
    expect(inspect(new WebSocketError('plain'))).toMatch(/closeCode: null,\n {2}reason: ''\n\}$/);
    expect(Object.getOwnPropertyNames(error)).toEqual(['stack']);
    expect(inspect({ nested: error })).toContain('closeCode: 4567');
  });
});
