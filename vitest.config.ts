import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two files at a time, even on CI's 2 cores (vitest's default there is one): most files spend their time waiting on
    // child processes, PostgreSQL, Redis or a rate-limit window, so the full suite takes about half the wall time.
    // Files stay independent: each has its own schema, Redis prefix, ports and organizations.
    maxWorkers: 2,
    // Builds dist/ first: the CLI and package tests run the compiled JavaScript, as users do.
    globalSetup: ['test/helpers/build.ts'],
    // The JSON report lets .ci/run print a plain 'N passed, N failed' closing line (the LTS run names its own file).
    reporters: ['default', ['json', { outputFile: process.env.MAILROOM_VITEST_JSON ?? 'test-output/vitest.json' }]],
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
  },
});
