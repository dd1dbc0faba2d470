'use strict'
// `require('@peerguard/workspace')` lands here (package.json "exports", condition "require"): the package is
// an ES module only. Fail with a message that says what to do instead of ERR_PACKAGE_PATH_NOT_EXPORTED.
const error = new Error(
  '@peerguard/workspace is an ES module (ESM only) and cannot be loaded with require(). ' +
    'Use `import { … } from \'@peerguard/workspace\'` in an ES module ("type": "module" or a .mjs file), ' +
    "or `const mod = await import('@peerguard/workspace')` from CommonJS."
)
error.code = 'ERR_REQUIRE_ESM'
throw error
