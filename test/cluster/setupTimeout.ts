// Per-test/hook timeout for the cluster project. Jest 30 reads `testTimeout` only from the
// global config (jest-circus ignores it inside a `projects` entry), and a global value would
// also apply to the unit tests; jest.setTimeout in this project's setupFilesAfterEnv
// applies to the cluster test files only. Tests may still pass their own timeout.
import { jest } from '@jest/globals';

jest.setTimeout(300_000);
