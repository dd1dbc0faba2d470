/**
 * The one table of stable codes. Every code that leaves a process — CLI `--json` output and exit
 * codes, wire alerts, audit findings, decision-log entries — is a key of this table.
 *
 * Rules: codes are lowercase kebab-case, unique across packages, never renamed and never reused
 * for another meaning. Add new codes to the section of the package that throws them.
 * `exit` is the CLI exit code for an error carrying this code (see `EXIT_CODES`).
 */
export interface CodeInfo {
  /** One line: what happened, for documentation and `--json` output. */
  readonly summary: string
  /** Process exit code the CLI uses when this error ends a command. */
  readonly exit: number
}

/** Exit codes of the `peerguard` command (documented in the CLI README). */
export const EXIT_CODES = {
  /** Success. */
  OK: 0,
  /** A finding, a denial or an invalid certificate the user asked about. */
  FINDING: 1,
  /** Bad command-line usage. */
  USAGE: 2,
  /** The command failed: bad input file, crypto failure, I/O error. */
  FAILURE: 3,
  /** An internal error (a bug): please report it. */
  INTERNAL: 4,
  /** The input is damaged (a truncated or corrupt capture): the result covers only what could be read. */
  DAMAGED_INPUT: 5
} as const

const code = (summary: string, exit: number = EXIT_CODES.FAILURE): CodeInfo => ({ summary, exit })

export const CODES = {
  // ---- interface: generic ----
  'invalid-argument': code('an argument has the wrong type, length or encoding', EXIT_CODES.USAGE),
  usage: code('the command line could not be understood', EXIT_CODES.USAGE),
  'io-error': code('a file or socket operation failed'),
  'not-found': code('a file or object does not exist'),
  'already-exists': code('refusing to overwrite an existing file'),
  internal: code('an unexpected internal error', EXIT_CODES.INTERNAL),
  aborted: code('the operation was aborted'),
  timeout: code('the operation timed out'),

  // ---- identity ----
  'invalid-key': code('a key has the wrong length or is not a valid Ed25519 key'),
  'invalid-signature': code('a signature did not verify', EXIT_CODES.FINDING),
  'invalid-peer-id': code('a peer ID could not be parsed'),
  'peer-id-check-failed': code('a peer ID check character is wrong (a typo?)'),
  'keystore-bad-passphrase': code('the keystore passphrase is wrong'),
  'keystore-passphrase-required': code('the keystore is encrypted and no passphrase was given'),
  'keystore-corrupt': code('the keystore file is damaged or was tampered with'),
  'keystore-truncated': code('the keystore file is truncated'),
  'keystore-unsupported-version': code('the keystore file has a version this peerguard cannot read'),
  'keystore-invalid-format': code('the file is not a peerguard keystore'),
  'keystore-permissions': code('the key file can be read or written by other users (chmod 600 it)'),

  // ---- pki ----
  // verification failures: exit 1 (`peerguard cert verify` reports an invalid certificate)
  'cert-expired': code('a certificate of the chain has expired', EXIT_CODES.FINDING),
  'cert-not-yet-valid': code('a certificate of the chain is not valid yet (check the clocks)', EXIT_CODES.FINDING),
  'cert-bad-signature': code('a certificate signature does not verify with its issuer key', EXIT_CODES.FINDING),
  'cert-unknown-issuer': code('the chain does not lead to a trusted root', EXIT_CODES.FINDING),
  'cert-not-a-ca': code(
    'an issuing certificate is not a CA (basicConstraints cA false or keyCertSign missing)',
    EXIT_CODES.FINDING
  ),
  'cert-path-too-long': code('the chain is longer than a pathLen constraint allows', EXIT_CODES.FINDING),
  'cert-wrong-usage': code('a certificate key usage or extended key usage does not allow this use', EXIT_CODES.FINDING),
  'cert-revoked': code('a certificate of the chain is revoked by its CA', EXIT_CODES.FINDING),
  'cert-peer-mismatch': code('the certificate is not bound to the expected peer ID', EXIT_CODES.FINDING),
  'cert-unknown-critical-extension': code(
    'a certificate has a critical extension peerguard does not understand',
    EXIT_CODES.FINDING
  ),
  'crl-stale': code('the CRL is past its nextUpdate: get a fresh one with `peerguard ca crl`', EXIT_CODES.FINDING),
  'crl-bad-signature': code('the CRL signature does not verify with its issuing CA key', EXIT_CODES.FINDING),
  'crl-missing': code(
    'no CRL from a CA of the chain is loaded (revocation is required): pass --crl or put it in the trust folder',
    EXIT_CODES.FINDING
  ),
  // input and CA failures: exit 3
  'cert-malformed': code('the data is not a well-formed X.509 certificate (PEM or DER)'),
  'cert-unsupported-algorithm': code('the certificate uses a key or signature algorithm other than Ed25519 or ECDSA P-256'),
  'crl-malformed': code('the data is not a well-formed CRL (PEM or DER)'),
  'csr-malformed': code('the data is not a well-formed PKCS#10 certificate request'),
  'csr-bad-signature': code('the certificate request self-signature does not verify'),
  'csr-invalid': code('the certificate request asks for a name, peer ID or key the CA will not certify'),
  'pem-malformed': code('the data is not PEM with the expected label'),
  'ca-bad-passphrase': code('the CA key passphrase is wrong'),
  'ca-not-found': code('the directory is not a peerguard CA directory'),
  'ca-exists': code('the directory already holds a CA; refusing to overwrite it'),
  'ca-database-corrupt': code('the CA database file is damaged'),
  'ca-locked': code('another process holds the CA database lock'),
  'ca-unknown-serial': code('the CA has no certificate with this serial number'),
  'ca-wrong-issuer': code('the certificate was not issued by this CA'),
  'ca-certificate-revoked': code('the certificate is revoked; the CA will not renew it (issue a new one after review)'),
  'crl-unknown-issuer': code('the CRL is not signed by a CA the trust store knows (a root, or an intermediate it has verified)'),
  'crl-older': code('the CRL is older than the one in force for its CA (lower CRL number or earlier thisUpdate)'),
  'crl-fetch-failed': code('a CRL could not be fetched from its distribution point (HTTP error, size or time limit)'),
  'trust-store-empty': code('no trusted root certificate was given'),
  'pkcs12-unsupported-key': code('the key type cannot go into a PKCS#12 bundle for this tool (use a P-256 certificate)'),

  // ---- policy ----
  allow: code('the policy allowed the request (decision code)', EXIT_CODES.OK),
  'deny-rule': code('a deny rule of the policy refused the request (decision code)', EXIT_CODES.FINDING),
  'deny-default': code('no rule of the policy allows the request: default deny (decision code)', EXIT_CODES.FINDING),
  'deny-requirement': code(
    'the resource requires an encrypted channel and the request had none (decision code)',
    EXIT_CODES.FINDING
  ),
  'deny-invalid-resource': code(
    'the resource path is not normalised (.., empty segment); refused (decision code)',
    EXIT_CODES.FINDING
  ),
  'policy-parse-error': code('the policy file is not well-formed YAML or JSON'),
  'policy-invalid': code('the policy file does not follow policies/schema.json'),
  'policy-unknown-key': code('the policy file has a key the language does not know (a typo?)'),
  'policy-unknown-action': code('a policy rule names an action that does not exist'),
  'policy-bad-glob': code('a resource pattern in the policy is not a valid glob'),
  'policy-bad-value': code('a size, time window, day, address range or offset in the policy is invalid'),
  'policy-cyclic-group': code('policy groups contain each other in a cycle'),
  'policy-unknown-group': code('the policy names a peer or group that is not defined'),
  'policy-duplicate-id': code('two policy rules or names share one id'),
  'policy-too-large': code('the policy file or one of its values is larger than the limits'),
  'policy-test-failed': code('an assertion of the policy tests block failed', EXIT_CODES.FINDING),
  'policy-lint-shadowed': code('an allow rule can never apply: a deny rule covers all of it', EXIT_CODES.FINDING),
  'policy-lint-unreachable': code('a rule can never match (empty group, empty condition)', EXIT_CODES.FINDING),
  'policy-lint-duplicate': code('a rule repeats an earlier rule of the same effect', EXIT_CODES.FINDING),
  'policy-lint-unused-group': code('a group is defined but never used', EXIT_CODES.FINDING),
  'policy-lint-unused-peer': code('a peer is defined but never used', EXIT_CODES.FINDING),
  'policy-lint-overlap': code('an allow and a deny rule name the same glob: the deny wins', EXIT_CODES.FINDING),
  'policy-lint-suspicious-pattern': code(
    'a resource pattern probably does not mean what it says (extglob characters, a deny on a folder entry only)',
    EXIT_CODES.FINDING
  ),
  'policy-bad-peer-id': code('a peer ID in the policy is not a peer ID (peerguard text form or libp2p form)'),
  'policy-unknown-peer': code('a peer name is not defined under peers: of the policy (explain does not guess)', EXIT_CODES.USAGE),

  // ---- channel ----
  'noise-unsupported-protocol': code('a Noise protocol name names a pattern, modifier or primitive this implementation lacks'),
  'noise-invalid-state': code('a Noise handshake or cipher state was used out of order'),
  'noise-decrypt-failed': code('a Noise message failed authentication (tampered, replayed or wrong key)', EXIT_CODES.FINDING),
  'noise-nonce-exhausted': code('a Noise cipher state ran out of nonces'),
  'noise-invalid-message': code('a Noise handshake message has the wrong length or an invalid public key'),
  'channel-handshake-timeout': code('the channel handshake did not finish in time'),
  'channel-handshake-invalid': code('a channel handshake message or payload is malformed'),
  'channel-frame-invalid': code('a channel frame is too large, too small or of an unknown type', EXIT_CODES.FINDING),
  'channel-decrypt-failed': code(
    'a channel frame failed authentication: tampered, replayed, reordered or dropped',
    EXIT_CODES.FINDING
  ),
  'channel-truncated': code('the connection ended without a close frame: the stream was truncated', EXIT_CODES.FINDING),
  'channel-binding-invalid': code(
    "the peer's identity key did not sign its Noise static key, or does not match its certificate",
    EXIT_CODES.FINDING
  ),
  'channel-peer-mismatch': code('the authenticated peer is not the peer that was expected (pinned)', EXIT_CODES.FINDING),
  'channel-certificate-required': code(
    'the peer presented no certificate and is neither pinned nor a known peer',
    EXIT_CODES.FINDING
  ),
  'channel-known-peer-changed': code(
    "a known peer's key changed since it was first seen (like an SSH host key change)",
    EXIT_CODES.FINDING
  ),
  'channel-unauthorized': code('the authorization gate refused the peer', EXIT_CODES.FINDING),
  'channel-refused': code('the remote peer refused this channel with an alert', EXIT_CODES.FINDING),
  'channel-protocol-mismatch': code('the peers share no application protocol'),
  'channel-cipher-mismatch': code('the peers share no transport cipher (AESGCM, ChaChaPoly) they both allow'),
  'channel-closed': code('the channel was closed or destroyed'),
  'channel-too-many-handshakes': code('the listener has too many handshakes pending'),
  'channel-known-peers-invalid': code('a known-peers file line could not be parsed'),

  // ---- audit ----
  // traffic auditor: errors
  'capture-format-invalid': code('the file is not a pcap or pcapng capture (bad magic number or header)'),
  'capture-unavailable': code(
    'live capture needs the optional `pcap` package and libpcap (npm install pcap; apt-get install libpcap-dev)'
  ),
  'capture-permission-denied': code('live capture needs root or CAP_NET_RAW on the interface'),
  'audit-profile-invalid': code('an audit profile file is not valid'),
  'audit-inventory-invalid': code('an audit inventory file is not valid'),
  'capture-not-a-file': code('the capture path is a directory, not a capture file'),
  'capture-damaged': code(
    'the capture is truncated or corrupt: the report covers only the records before the damage',
    EXIT_CODES.DAMAGED_INPUT
  ),
  'audit-export-failed': code('the findings could not be exported (syslog unreachable, export file not writable)'),
  // traffic auditor: finding codes (stable; see packages/audit/README.md)
  'smb1-in-use': code('SMB1/CIFS negotiated for a file-share session', EXIT_CODES.FINDING),
  'smb1-offered': code('a client offered SMB1 dialects although SMB2+ was chosen', EXIT_CODES.FINDING),
  'smb-signing-not-required': code('an SMB server does not require signing', EXIT_CODES.FINDING),
  'smb-unsigned': code('an SMB session carries unsigned data messages', EXIT_CODES.FINDING),
  'smb-unencrypted': code('SMB file data crosses the network without SMB3 encryption', EXIT_CODES.FINDING),
  'smb-encrypted': code('SMB3 encryption in use (good; informational)', EXIT_CODES.FINDING),
  'smb-guest-session': code('an anonymous (null) or guest SMB session', EXIT_CODES.FINDING),
  'smb-share-access': code('a tree connect to a share (share names as evidence)', EXIT_CODES.FINDING),
  'smb-admin-share-access': code('a tree connect to an administrative share (C$, ADMIN$)', EXIT_CODES.FINDING),
  'ntlm-auth': code('an NTLM authentication (user, domain and workstation exposed; hash relayable)', EXIT_CODES.FINDING),
  'ntlmv1-auth': code('an NTLMv1 authentication (24-byte response, crackable)', EXIT_CODES.FINDING),
  'http-ntlm-auth': code('NTLM or Negotiate authentication over plain HTTP', EXIT_CODES.FINDING),
  'ftp-cleartext-credentials': code('an FTP user name and password crossed the network in clear', EXIT_CODES.FINDING),
  'ftp-bruteforce': code('many failed FTP logins from one client', EXIT_CODES.FINDING),
  'ftp-auth-tls': code('FTP upgraded with AUTH TLS (good; informational)', EXIT_CODES.FINDING),
  'cleartext-file-transfer': code('a file moved over a cleartext protocol (FTP, HTTP, WebDAV)', EXIT_CODES.FINDING),
  'http-basic-auth': code('HTTP Basic credentials over plain HTTP', EXIT_CODES.FINDING),
  'http-digest-auth': code('HTTP Digest authentication over plain HTTP (user name exposed)', EXIT_CODES.FINDING),
  'nfs-auth-sys': code('NFS/ONC-RPC calls with AUTH_SYS credentials (uid/gid asserted by the client)', EXIT_CODES.FINDING),
  'nfs-root-credential': code('NFS calls asserting uid 0 (root)', EXIT_CODES.FINDING),
  'bittorrent-plaintext': code('a BitTorrent handshake in clear (info-hash and peer id exposed)', EXIT_CODES.FINDING),
  'bittorrent-encrypted': code('a likely MSE/PE-obfuscated BitTorrent stream (heuristic, with confidence)', EXIT_CODES.FINDING),
  'bittorrent-dht': code('BitTorrent DHT traffic (info-hashes announced)', EXIT_CODES.FINDING),
  'bittorrent-lsd': code('BitTorrent local service discovery multicast (info-hash announced on the LAN)', EXIT_CODES.FINDING),
  'discovery-leak': code('names announced by mDNS, LLMNR, NBNS, SSDP, WS-Discovery or NetBIOS browser', EXIT_CODES.FINDING),
  'ipp-print-job': code('a print job sent over IPP without TLS (user, job name and document readable)', EXIT_CODES.FINDING),
  'ipp-cleartext': code('IPP without TLS (printer queries: users and printers exposed)', EXIT_CODES.FINDING),
  'raw-print-job': code('a raw print job (port 9100 / PJL) in clear (user, job name and document readable)', EXIT_CODES.FINDING),
  'lpd-print-job': code('an LPD/LPR print job in clear (RFC 1179: user, host, job and file names)', EXIT_CODES.FINDING),
  'scan-cleartext': code('network scanning (eSCL or WSD) over plain HTTP: scanned pages readable', EXIT_CODES.FINDING),
  'telnet-cleartext-login': code('a telnet login: user name and password crossed the network in clear', EXIT_CODES.FINDING),
  'telnet-session': code('a telnet session in clear (no login dialogue seen)', EXIT_CODES.FINDING),
  'tftp-transfer': code('a TFTP read or write (no authentication, no encryption; file names shown)', EXIT_CODES.FINDING),
  'rsync-daemon-transfer': code('an rsync daemon module read or written in clear (rsync://, not over ssh)', EXIT_CODES.FINDING),
  'rsync-module-list': code('an rsync daemon listed its modules in clear', EXIT_CODES.FINDING),
  'nfs-cleartext-data': code('NFS READ/WRITE file data in clear (no RPCSEC_GSS privacy, krb5p)', EXIT_CODES.FINDING),
  'peerguard-channel': code('the peerguard hardened channel (good; informational)', EXIT_CODES.FINDING),
  'peerguard-plain': code('the peerguard plain (unencrypted) share protocol', EXIT_CODES.FINDING),
  'unknown-peer': code('a host that is not an enrolled peer of the inventory', EXIT_CODES.FINDING),
  'policy-violation': code('share traffic between peers the policy gives no access', EXIT_CODES.FINDING),
  'policy-requires-encryption': code(
    'a resource the policy marks `require: encrypted` reached over cleartext',
    EXIT_CODES.FINDING
  ),
  'unlogged-access': code('a flow to a hardened node with no matching decision-log entry', EXIT_CODES.FINDING),
  'decision-log-unverified': code(
    'a decision log given to the audit does not verify (edited, cut, reordered or another signer); entries after the damage are not used',
    EXIT_CODES.FINDING
  ),
  // decision log (packages/decision-log; see packages/decision-log/README.md)
  'log-entry-malformed': code('a decision-log line is not a well-formed entry', EXIT_CODES.FINDING),
  'log-entry-hash-mismatch': code('a decision-log entry was edited (its hash does not match its content)', EXIT_CODES.FINDING),
  'log-chain-broken': code(
    'a decision-log entry does not link to the entry before it (deleted, inserted or reordered)',
    EXIT_CODES.FINDING
  ),
  'log-sequence-broken': code(
    'a decision-log entry has the wrong sequence number (deleted, inserted or reordered)',
    EXIT_CODES.FINDING
  ),
  'log-checkpoint-invalid': code('a decision-log checkpoint signature or count does not verify', EXIT_CODES.FINDING),
  'log-signer-mismatch': code('a decision-log checkpoint was signed by another key than the expected one', EXIT_CODES.FINDING),
  'log-torn-tail': code('the decision log ends in a partial entry (a crash or truncation mid-write)', EXIT_CODES.FINDING),
  'log-truncated': code('the decision log is shorter than its saved head checkpoint (entries were cut off)', EXIT_CODES.FINDING),
  'log-unsigned-tail': code(
    'decision-log entries after the last signed checkpoint (truncation there is undetectable)',
    EXIT_CODES.FINDING
  ),
  'log-corrupt': code('refusing to append to a decision log that does not verify'),
  'log-wrong-signer': code(
    'the decision log verifies, but under another key than the expected one (wrong --key, or another node’s log)',
    EXIT_CODES.FINDING
  ),
  'log-head-missing': code(
    'a non-empty decision log has no signed head file (deleted, or the log was copied alone)',
    EXIT_CODES.FINDING
  ),
  'log-head-invalid': code(
    'the decision log’s head file is unsigned, malformed or its signature does not verify',
    EXIT_CODES.FINDING
  ),
  'log-tail-forged': code(
    'decision-log entries after the last signed checkpoint were not written by this node (their entry MAC does not verify)',
    EXIT_CODES.FINDING
  ),
  'log-unavailable': code('the decision log cannot be written (disk full, I/O error); operations are refused until it can'),
  'log-folder-missing': code('the folder of the decision log does not exist (create it, or choose another log path)'),
  'log-file-changed': code(
    'the decision log file was replaced, removed or written by another process while open; operations are refused until the node restarts'
  ),
  'log-refusal-summary': code(
    'connections refused before authentication, counted per address and time window (one decision-log entry per window)',
    EXIT_CODES.FINDING
  ),

  // ---- share ----
  'share-path-invalid': code('a share path is malformed (NUL byte, backslash, control character or reserved name)'),
  'share-path-traversal': code('a share path is absolute or leaves the share root with `..`'),
  'share-path-too-long': code('a share path or one of its names is too long'),
  'share-symlink-escape': code('a share path goes through a symbolic link that leads outside the share root'),
  'share-symlink-refused': code('a share path goes through (or reads) a symbolic link; the share never follows links'),
  'share-platform-unsupported': code(
    'the share server needs Linux /proc/self/fd to confine paths; it refuses to start without it'
  ),
  'share-not-regular-file': code('the share path is a device, FIFO, socket or other special file'),
  'share-not-found': code('the share path does not exist'),
  'share-already-exists': code('the share path already exists'),
  'share-is-directory': code('the share path is a directory'),
  'share-not-directory': code('the share path (or a parent) is not a directory'),
  'share-directory-not-empty': code('the share directory is not empty'),
  'share-disk-full': code('the share has no space left on its disk'),
  'share-permission-denied': code('the share server has no permission on the file'),
  'share-io-error': code('a file operation on the share failed'),
  'share-denied': code('the policy denies this operation to this peer', EXIT_CODES.FINDING),
  'share-subtree-unsupported': code(
    'a directory rename needs a subtree decision and the authorizer does not declare that it can make one (`subtrees: true`)',
    EXIT_CODES.FINDING
  ),
  'share-verify-failed': code('an upload did not match its declared size or SHA-256; nothing was changed'),
  'share-file-changed': code('the remote file or folder changed during the operation (or since an interrupted download began)'),
  'share-range-invalid': code('a byte range lies outside the file'),
  'share-too-many-operations': code('too many concurrent operations from this peer'),
  'share-request-too-large': code('a share request is larger than the limit'),
  'share-idle-timeout': code('the share connection was idle too long'),
  'share-protocol-error': code('a share peer broke the wire protocol'),
  'share-connection-refused': code('the share server refused the connection (handshake or certificate)'),
  'share-connection-closed': code('the share connection closed before the operation finished'),

  // ---- cli ----
  'reload-certificate-mismatch': code(
    "a reloaded certificate is not issued for this node's identity key; the previous certificate stays"
  ),

  // ---- libp2p ----
  'libp2p-peer-mismatch': code('the libp2p peer authenticated by the handshake is not the peer that was dialled'),
  'libp2p-key-mismatch': code("the libp2p node's private key is not its peerguard identity key", EXIT_CODES.USAGE),
  'libp2p-unsupported-key': code('the libp2p key is not an Ed25519 key, so it cannot be a peerguard identity', EXIT_CODES.USAGE),
  'libp2p-stream-error': code('the libp2p connection under a peerguard channel failed'),
  'libp2p-uncertified-peer': code(
    'the gater refused a libp2p connection that the peerguard encrypter did not secure',
    EXIT_CODES.FINDING
  ),
  'libp2p-unsupported-version': code(
    'the libp2p version in use is not one @peerguard/libp2p supports (libp2p 2.x or 3.x)',
    EXIT_CODES.USAGE
  ),
  'libp2p-unsupported-runtime': code(
    'this Node.js lacks what libp2p needs (Promise.withResolvers: Node 22 or later)',
    EXIT_CODES.USAGE
  ),
  'libp2p-no-common-encrypter': code(
    'the remote libp2p node offers only stock Noise and this node accepts only the peerguard encrypter'
  ),
  'libp2p-protocol-denied': code('the policy denies this peer the libp2p protocol it opened a stream for', EXIT_CODES.FINDING),
  // ---- proxy ----
  'proxy-address-invalid': code('a HOST:PORT address is malformed', EXIT_CODES.USAGE),
  'proxy-config-invalid': code('a key, certificate, trust or policy file of the proxy cannot be used'),
  'proxy-denied': code('the policy denies this peer the proxied service', EXIT_CODES.FINDING),
  'proxy-target-unreachable': code('the proxy could not connect to its target service'),
  'proxy-target-timeout': code('connecting to the target service timed out'),
  'proxy-too-many-connections': code('the proxy is at its connection limit'),
  'proxy-too-many-peer-connections': code('this peer is at its per-peer connection limit'),
  'proxy-idle-timeout': code('a proxied connection was idle too long'),
  'proxy-tls-handshake-failed': code('the TLS handshake failed, timed out or the peer sent no certificate'),
  'proxy-reload-failed': code('reloading certificate, trust store or policy failed; the previous configuration stays'),
  'proxy-closed': code('the proxy was closed'),
  'proxy-connection-reset': code('a proxied connection was reset or aborted by one side before both directions ended'),
  'proxy-protocol-invalid': code('a PROXY protocol v2 header is malformed or its addresses and TLVs exceed 65535 bytes'),
  // ---- cli: peerguard node ----
  'node-config-invalid': code('a node configuration file is malformed or names an unknown key (file:line:column)'),
  'node-already-running': code("another node answers on this node's control socket"),
  'node-control-foreign': code('the control socket or its directory is not owned by this user, or is not a socket'),
  'node-control-unavailable': code('no node answers on the control socket'),
  'node-reload-refused': code('a configuration edit changes keys that need a restart; the configuration in force stays'),
  // ---- swarm ----
  'swarm-manifest-invalid': code('a swarm manifest is malformed, too large or not canonical'),
  'swarm-manifest-signature': code('a swarm manifest signature or publisher certificate does not verify', EXIT_CODES.FINDING),
  'swarm-publisher-denied': code('the policy does not allow the manifest publisher to publish this swarm', EXIT_CODES.FINDING),
  'swarm-denied': code('the policy denies this peer the swarm', EXIT_CODES.FINDING),
  'swarm-unknown': code('the peer does not serve the requested swarm'),
  'swarm-protocol-error': code('a swarm peer broke the wire protocol'),
  'swarm-piece-corrupt': code('a peer sent a piece whose SHA-256 does not match the manifest', EXIT_CODES.FINDING),
  'swarm-file-mismatch': code('the file does not match the manifest (size, piece or whole-file SHA-256)'),
  'swarm-stalled': code('no peer could supply the missing pieces before the stall timeout'),
  'swarm-too-many-peers': code('the swarm peer is at its connection limit'),
  'swarm-closed': code('the swarm peer was closed'),
  // ---- workspace (packages/workspace; see packages/workspace/SPEC.md) ----
  'workspace-announce-malformed': code('a workspace announcement is truncated, too large or not in the wire format'),
  'workspace-announce-other-workspace': code('the announcement is for another workspace (its workspace ID is not ours)'),
  'workspace-announce-decrypt': code('the announcement body does not decrypt with the workspace key (sender lacks the root)'),
  'workspace-announce-signature': code('the announcement signature does not verify with the key it names', EXIT_CODES.FINDING),
  'workspace-announce-replayed': code(
    'the announcement is not newer than the last one from its sender, or outside the time window'
  ),
  'workspace-announce-revoked': code('the announcement comes from a peer whose certificate is revoked', EXIT_CODES.FINDING),
  'workspace-announce-rate-limited': code('too many announcements from one source; the excess is dropped'),
  'workspace-peer-unverified': code(
    "the peer's certificate is unknown or does not chain to the workspace root; it is not a member"
  ),
  'workspace-bundle-malformed': code('a workspace bundle is truncated, too large or not in the wire format'),
  'workspace-bundle-workspace': code('the bundle is for another workspace (its workspace ID is not ours)'),
  'workspace-bundle-signature': code('the bundle signature does not verify with the workspace root key', EXIT_CODES.FINDING),
  'workspace-bundle-stale': code('the bundle version is not newer than the one held (no rollback)'),
  'workspace-bundle-content': code("a bundle's CRL or policy does not load; the bundle is refused and the one in force stays"),
  'workspace-fetch-failed': code('a bundle could not be fetched from the peer (connection, channel or protocol failure)'),
  'workspace-config-invalid': code('the workspace options are malformed (group, port, interval, peers)', EXIT_CODES.USAGE),
  'enroll-token-malformed': code('an enrollment token is not a pgjoin1 string (prefix, length or checksum)', EXIT_CODES.USAGE),
  'enroll-token-unknown': code('the CA holds no enrollment token with this ID', EXIT_CODES.FINDING),
  'enroll-token-expired': code('the enrollment token expired before it was used', EXIT_CODES.FINDING),
  'enroll-token-used': code('the enrollment token was already used (tokens are single-use; a replay)', EXIT_CODES.FINDING),
  'enroll-token-mac': code(
    "the joiner's token proof does not verify (wrong secret, or not bound to this channel and key)",
    EXIT_CODES.FINDING
  ),
  'enroll-widening': code('the request asks for another name or groups than the token binds', EXIT_CODES.FINDING),
  'enroll-csr-mismatch': code("the request's key is not the key that authenticated the enrollment channel", EXIT_CODES.FINDING),
  'enroll-ca-mismatch': code("the enrollment server proves no certificate under the token's root", EXIT_CODES.FINDING),
  'enroll-malformed': code('an enrollment message is truncated, too large or not in the wire format'),
  'enroll-failed': code('enrollment could not run (connection, channel, timeout, or the CA could not issue)')
} as const satisfies Record<string, CodeInfo>

/** A stable error or result code from the table in `CODES`. */
export type PeerguardCode = keyof typeof CODES

/** True when `value` is a code of the table. */
export function isPeerguardCode(value: unknown): value is PeerguardCode {
  return typeof value === 'string' && Object.hasOwn(CODES, value)
}
