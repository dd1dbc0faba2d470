'use strict'
// `require('@peerguard/decision-log')` lands here (package.json "exports", condition "require"): the package is
// an ES module only. Fail with a message that says what to do instead of ERR_PACKAGE_PATH_NOT_EXPORTED.
const error = new Error(
  '@peerguard/decision-log is an ES module (ESM only) and cannot be loaded with require(). ' +
    'Use `import { … } from \'@peerguard/decision-log\'` in an ES module ("type": "module" or a .mjs file), ' +
    "or `const mod = await import('@peerguard/decision-log')` from CommonJS."
)
error.code = 'ERR_REQUIRE_ESM'
throw error
