import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/support/global-setup.ts'],
    // Two cores: run files in two forks, and give integration tests the time a cold server start needs.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 180_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    // One shared PostgreSQL server per run; each test file creates its own database in it.
    sequence: { hooks: 'stack' }
  }
})
