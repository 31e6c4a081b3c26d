import { defineConfig, type Options } from 'tsup';

/**
 * The CLI is a user of the package: its imports of '../index.js' stay imports of the built entry
 * (dist/index.js) instead of a second copy of the library, and any other import from outside
 * src/cli/ fails the build.
 */
const cliUsesPublicApi: NonNullable<Options['esbuildPlugins']>[number] = {
  name: 'cli-uses-public-api',
  setup(build) {
    build.onResolve({ filter: /^\.\.\// }, (args) => {
      if (!args.importer.includes('/src/cli/')) return undefined;
      if (args.path === '../index.js') return { path: './index.js', external: true };
      return { errors: [{ text: `src/cli/ may only import the public API ('../index.js'), not ${args.path}` }] };
    });
  },
};

export default defineConfig([{
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  // tsup's declaration build sets baseUrl, which TypeScript 6 reports as deprecated.
  dts: { compilerOptions: { ignoreDeprecations: '6.0' } },
  // Everything but the CLI's files: its build (below) runs at the same time.
  clean: ['!cli.js', '!cli.js.map'],
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  // esbuild renames a class it has to reference from inside (WebSocketError became
  // _WebSocketError); users see these names in stack traces, console.log and constructor.name.
  keepNames: true,
}, {
  entry: { cli: 'src/cli/main.ts' },
  format: ['esm'],
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  esbuildPlugins: [cliUsesPublicApi],
}]);
