// Two projects: fast unit tests, and integration tests against a real local control plane
// (test/cluster/globalSetup.ts starts it once per run). ESM throughout, because
// @kubernetes/client-node 1.x is ESM-only; run with `node --experimental-vm-modules`.
const tsJest = ['ts-jest', { useESM: true }];
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': tsJest },
  testEnvironment: 'node',
};

export default {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    // Slow (npm pack + npm install + synth + a Jest run in a fresh project): its own project,
    // run by `npm run test:package` (part of `npm test`).
    { ...common, displayName: 'package', testMatch: ['<rootDir>/test/package/**/*.test.ts'] },
    {
      ...common,
      displayName: 'cluster',
      testMatch: ['<rootDir>/test/cluster/**/*.test.ts'],
      globalSetup: '<rootDir>/test/cluster/globalSetup.ts',
      globalTeardown: '<rootDir>/test/cluster/globalTeardown.ts',
      // Not `testTimeout: …` here: Jest 30 ignores it in a project entry (see the file).
      setupFilesAfterEnv: ['<rootDir>/test/cluster/setupTimeout.ts'],
    },
  ],
};
