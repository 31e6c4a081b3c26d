// Fails when docs/api differs from what `npm run docs:api` generates from today's sources, so the
// committed API reference cannot drift from the code (CI runs this; `npm run docs:api` fixes it).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Every file below `dir`, as paths relative to it, sorted. */
function files(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name).slice(dir.length + 1))
    .sort();
}

const committed = 'docs/api';
const fresh = mkdtempSync(join(tmpdir(), 'websocketstream-api-'));
try {
  execFileSync('npx', ['typedoc', '--out', fresh, '--logLevel', 'Error'], { stdio: 'inherit' });
  const want = files(fresh);
  const have = files(committed);
  const differing = [...new Set([...want, ...have])].filter((file) => {
    if (!want.includes(file) || !have.includes(file)) return true;
    return !readFileSync(join(fresh, file)).equals(readFileSync(join(committed, file)));
  });
  if (differing.length > 0) {
    console.error(`docs/api is out of date (${differing.join(', ')}): run \`npm run docs:api\` and commit it`);
    process.exitCode = 1;
  } else {
    console.log(`docs/api is up to date (${have.length} files)`);
  }
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
