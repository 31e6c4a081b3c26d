/** One line on stderr, prefixed with the tool's name. */
export function report(message: string): void {
  process.stderr.write(`websocketstream: ${message}\n`);
}

/** Resolves once everything written to stdout so far has left the process (or stdout failed). */
export function flushStdout(): Promise<void> {
  if (process.stdout.destroyed || process.stdout.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => process.stdout.write('', () => resolve()));
}
