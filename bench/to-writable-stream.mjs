#!/usr/bin/env node
// How much pipeTo() pulls into memory in front of a slow Node Writable: Writable.toWeb() against
// toWritableStream(), side by side on the Node that runs this. A source of 64 KiB chunks (at most
// --limit of them) is piped for --ms into a Writable that takes --write-ms per chunk; the script
// prints, for each, the chunks pulled from the source, the chunks written, and the difference held.
//
//   node bench/to-writable-stream.mjs [--ms 2000] [--write-ms 10] [--limit 20000]

import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { toWritableStream } from '../dist/index.js';
import { sleep } from './lib/common.mjs';

const { values } = parseArgs({
  options: {
    ms: { type: 'string', default: '2000' },
    'write-ms': { type: 'string', default: '10' },
    limit: { type: 'string', default: '20000' },
  },
});
const CHUNK = 64 * 1024;

async function measure(name, wrap) {
  let written = 0;
  const sink = new Writable({
    write(_chunk, _encoding, callback) {
      setTimeout(() => {
        written++;
        callback();
      }, Number(values['write-ms']));
    },
  });
  let pulled = 0;
  const limit = Number(values.limit);
  const source = new ReadableStream({
    pull(controller) {
      pulled++;
      controller.enqueue(new Uint8Array(CHUNK));
      if (pulled === limit) controller.close();
    },
  });
  const abort = new AbortController();
  const piping = source.pipeTo(wrap(sink), { signal: abort.signal }).catch(() => {});
  await sleep(Number(values.ms));
  const result = { name, pulled, written, heldChunks: pulled - written, heldMiB: ((pulled - written) * CHUNK) / 2 ** 20 };
  abort.abort();
  await Promise.race([piping, sleep(1000)]);
  sink.destroy();
  return result;
}

const results = [
  await measure('Writable.toWeb', (sink) => Writable.toWeb(sink)),
  await measure('toWritableStream', (sink) => toWritableStream(sink)),
];
console.log(JSON.stringify({ node: process.version, ...values, results }));
console.table(results);
process.exit(0);
