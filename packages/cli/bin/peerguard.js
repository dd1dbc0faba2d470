#!/usr/bin/env node
// The `peerguard` command. The CLI is TypeScript compiled to dist/ by `npm install` (root `prepare`).
import('../dist/bin.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write(
      'peerguard: error: the CLI is not built\npeerguard: hint: run `npm install` (or `npm run build`) at the repository root\n'
    )
    process.exit(3)
  }
  throw err
})
