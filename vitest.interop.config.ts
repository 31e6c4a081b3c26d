import { defineConfig } from 'vitest/config';

// `npm run test:interop`: tests against peers that npm alone does not bring: Debian's Chromium
// (/usr/bin/chromium) and Node 24 (NODE24 env var, or .ci/.node24 as .ci/run installs it).
export default defineConfig({
  test: {
    include: ['test/interop/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
