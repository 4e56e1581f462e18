import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/support/leakCheck.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // SQLite files and the worker pool are per test; two forks fit the 2-core machine.
    pool: 'forks',
    maxWorkers: 2,
  },
});
