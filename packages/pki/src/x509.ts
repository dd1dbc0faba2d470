/**
 * The ONE place that touches @peculiar/x509's process-wide crypto provider (CONTRIBUTING.md,
 * "Code": set it in exactly one place). Every other pki module imports `x509` from here.
 * @peculiar/x509 needs a Reflect metadata polyfill before it loads (its README).
 */
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'

x509.cryptoProvider.set(globalThis.crypto)

export { x509 }
