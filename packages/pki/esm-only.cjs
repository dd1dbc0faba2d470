'use strict'
// `require('@peerguard/pki')` lands here (package.json "exports", condition "require"): the package is
// an ES module only. Fail with a message that says what to do instead of ERR_PACKAGE_PATH_NOT_EXPORTED.
const error = new Error(
  '@peerguard/pki is an ES module (ESM only) and cannot be loaded with require(). ' +
    'Use `import { … } from \'@peerguard/pki\'` in an ES module ("type": "module" or a .mjs file), ' +
    "or `const mod = await import('@peerguard/pki')` from CommonJS."
)
error.code = 'ERR_REQUIRE_ESM'
throw error
