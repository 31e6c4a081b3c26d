#!/usr/bin/env node
// The `websocketstream` command: a WebSocket client and server for terminals and pipes, built on
// the package's public API only (the build resolves '../index.js' to the package's own entry).
import { readFileSync } from 'node:fs';
import { runClient } from './client.js';
import { helpText, parseCommandLine, UsageError } from './options.js';
import { report } from './report.js';
import { runServer } from './server.js';

async function main(argv: string[]): Promise<number> {
  const config = parseCommandLine(argv);
  switch (config.mode) {
    case 'help':
      process.stdout.write(helpText());
      return 0;
    case 'version': {
      // dist/cli.js sits one folder below package.json.
      const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
      process.stdout.write(`${version}\n`);
      return 0;
    }
    case 'client':
      return runClient(config);
    case 'server':
      return runServer(config);
  }
}

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (error: unknown) => {
    if (error instanceof UsageError) {
      report(`${error.message}\nTry 'websocketstream --help'.`);
      process.exit(2);
    }
    report(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
