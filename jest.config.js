/**
 * One Jest run for the whole monorepo: every package's `test/` and the top-level `test/`.
 * TypeScript is stripped by SWC (types are checked by `tsc -b` before Jest runs);
 * `@peerguard/*` imports resolve to each package's source so tests never need a build.
 * @type {import('jest').Config}
 */
export default {
  // Node, plus a fresh XDG_CONFIG_HOME per test file: the default known-peers file is never the user's.
  testEnvironment: '<rootDir>/test/jest-environment.js',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } }]
  },
  moduleNameMapper: {
    '^@peerguard/([a-z0-9-]+)$': '<rootDir>/packages/$1/src/index.ts',
    // subpath exports (`@peerguard/channel/tls`) are a folder with an index under src/
    '^@peerguard/([a-z0-9-]+)/([a-z0-9-]+)$': '<rootDir>/packages/$1/src/$2/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1'
  },
  testMatch: ['<rootDir>/packages/*/test/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  testTimeout: 30000,
  // On 2 cores Jest would run every file in its own process, one after another, and with ESM
  // (vm modules) each file's module graph stays behind: the heap grew to the 4 GB limit near the
  // end of one run here. A memory limit makes Jest use a worker (still one file at a time), and
  // a worker over the limit after a file is replaced by a fresh one.
  workerIdleMemoryLimit: '1GB'
}
