// Where the interop tests find a Node 24 binary: $NODE24, else the copy .ci/run installs with
// `npm install --prefix .ci/.node24 node@24`.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export function node24Binary(): string {
  const candidate = process.env.NODE24 ?? resolve('.ci/.node24/node_modules/.bin/node');
  if (!existsSync(candidate)) {
    throw new Error(`Node 24 not found at ${candidate}: run \`npm install --prefix .ci/.node24 --no-save node@24\` or set NODE24`);
  }
  return candidate;
}
