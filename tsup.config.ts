import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  // tsup's declaration build sets baseUrl, which TypeScript 6 reports as deprecated.
  dts: { compilerOptions: { ignoreDeprecations: '6.0' } },
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  // esbuild renames a class it has to reference from inside (WebSocketError became
  // _WebSocketError); users see these names in stack traces, console.log and constructor.name.
  keepNames: true,
});
