import { defineConfig } from 'vitest/config';

// `npm test`: everything that needs only npm. Interop tests against Chromium and Node 24 live in
// test/interop/ and run with `npm run test:interop` (see vitest.interop.config.ts).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/interop/**', 'node_modules/**'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
