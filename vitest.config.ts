import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{schemas,manifests,api,controller,worker,bench}/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['node_modules', 'dist'],
    testTimeout: 20_000,
    globalSetup: ['test/integration/global-setup.ts'],
    hookTimeout: 120_000,
    // Integration files share one Docker engine; unit files are fast either way.
    fileParallelism: true,
    // CI also writes a JSON report, from which .ci/run prints its closing count line.
    reporters: process.env['CI'] ? ['default', 'json'] : ['default'],
    outputFile: { json: '.ci/last-run.json' },
  },
});
