import { describe, expect, it } from 'vitest';
import { utf8ByteLength } from '../../src/protocol/utf8-length.js';

describe('utf8ByteLength (no Node module, for the browser entry)', () => {
  it('agrees with TextEncoder, lone surrogates included', () => {
    const samples = ['', 'a', 'é', '€', '😀', '\ud800', '\udc00x', 'a\ud83d', 'héllo 😀 \u{10ffff}', 'x'.repeat(200)];
    let seed = 1;
    const random = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647;
    for (let i = 0; i < 2000; i++) samples.push(String.fromCharCode(...Array.from({ length: 6 }, () => Math.floor(random() * 65536))));
    for (const text of samples) expect(utf8ByteLength(text), JSON.stringify(text)).toBe(new TextEncoder().encode(text).byteLength);
  });
});
