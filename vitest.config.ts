import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Builds dist/ first: the CLI and package tests run the compiled JavaScript, as users do.
    globalSetup: ['test/support/build.ts'],
    // The JSON report lets .ci/run print a plain 'N passed, N failed' closing line (the LTS run names its own file).
    reporters: ['default', ['json', { outputFile: process.env.MAILROOM_VITEST_JSON ?? 'test-output/vitest.json' }]],
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
  },
});
