import { defineConfig } from 'tsup';

// The browser entry: one plain ES module with no imports (dist/browser.js), usable from a
// `<script type="module">` or through the `browser` condition of package.json. Built after
// tsup.config.ts (which cleans dist/), so it must not clean.
export default defineConfig({
  entry: { browser: 'src/browser.ts' },
  format: ['esm'],
  dts: { compilerOptions: { ignoreDeprecations: '6.0' } },
  clean: false,
  sourcemap: true,
  target: 'es2022',
  platform: 'browser',
  // Class names are API (WebSocketError.name): without this esbuild may rename a class that refers to itself.
  keepNames: true,
});
