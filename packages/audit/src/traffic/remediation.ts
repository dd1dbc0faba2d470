/**
 * What to do about each finding: one sentence on the risk and concrete configuration for the
 * software that usually causes it (Samba, vsftpd, CUPS, aria2, Transmission, rsync, Avahi, NFS,
 * peerguard itself). Shown in the report summary next to the findings it fixes. Printers, scanners,
 * telnet, TFTP, the rsync daemon and NFS data are in remediation-lan.ts.
 */
import { LAN_REMEDIATIONS } from './remediation-lan.js'

/** Configuration lines for one product. */
export interface ConfigFix {
  /** Product and file (`Samba — /etc/samba/smb.conf [global]`). */
  readonly where: string
  readonly lines: readonly string[]
}

export interface Remediation {
  /** Why it matters, in one sentence. */
  readonly risk: string
  /** What to do, in one sentence. */
  readonly fix: string
  readonly config: readonly ConfigFix[]
}

const SMB_CONF = 'Samba — /etc/samba/smb.conf, [global]'
const VSFTPD = 'vsftpd — /etc/vsftpd.conf'
const HTTPS = 'nginx — the server block'
const ARIA2 = 'aria2 — ~/.aria2/aria2.conf (or the same options on the command line)'
const TRANSMISSION = 'Transmission — settings.json (stop the daemon first)'
const PEERGUARD_SHARE = 'peerguard — serve the folder hardened'

const byCode: Readonly<Record<string, Remediation>> = {
  'smb1-in-use': {
    risk: 'SMB1 has no pre-authentication integrity and is the protocol of EternalBlue-class exploits.',
    fix: 'Turn SMB1 off on servers and clients.',
    config: [
      { where: SMB_CONF, lines: ['server min protocol = SMB2_10', 'client min protocol = SMB2_10'] },
      { where: 'Windows (PowerShell, as administrator)', lines: ['Set-SmbServerConfiguration -EnableSMB1Protocol $false'] }
    ]
  },
  'smb-signing-not-required': {
    risk: 'Unsigned SMB lets anyone on the path relay NTLM logins and change file data.',
    fix: 'Require signing on the server (and the clients).',
    config: [{ where: SMB_CONF, lines: ['server signing = mandatory', 'client signing = required'] }]
  },
  'smb-unencrypted': {
    risk: 'File names and contents cross the LAN readable by any host that can see the traffic.',
    fix: 'Require SMB3 encryption for the share (or for every share).',
    config: [{ where: SMB_CONF, lines: ['server smb encrypt = required', 'server min protocol = SMB3'] }]
  },
  'smb-guest-session': {
    risk: 'A guest or anonymous session reaches shares with no account at all.',
    fix: 'Refuse guest and null sessions.',
    config: [{ where: SMB_CONF, lines: ['map to guest = Never', 'restrict anonymous = 2', 'usershare allow guests = no'] }]
  },
  'smb-admin-share-access': {
    risk: 'Administrative shares (C$, ADMIN$) give the whole disk to whoever logs in.',
    fix: 'Check who did this; disable administrative shares on hosts that do not need them.',
    config: [
      {
        where: 'Windows registry (then restart the Server service)',
        lines: ['HKLM\\SYSTEM\\CurrentControlSet\\Services\\LanmanServer\\Parameters AutoShareWks = 0']
      }
    ]
  },
  'ntlm-auth': {
    risk: 'NTLM exposes user, domain and workstation and can be relayed; its hash can be cracked offline.',
    fix: 'Prefer Kerberos; allow NTLMv2 only, with SMB signing so it cannot be relayed.',
    config: [{ where: SMB_CONF, lines: ['ntlm auth = ntlmv2-only', 'lanman auth = no', 'server signing = mandatory'] }]
  },
  'ntlmv1-auth': {
    risk: 'An NTLMv1 response is crackable to the NT hash in hours.',
    fix: 'Refuse NTLMv1 and LM everywhere.',
    config: [
      { where: SMB_CONF, lines: ['ntlm auth = ntlmv2-only', 'lanman auth = no'] },
      {
        where: 'Windows group policy',
        lines: ['Network security: LAN Manager authentication level = Send NTLMv2 response only. Refuse LM & NTLM']
      }
    ]
  },
  'http-ntlm-auth': {
    risk: 'NTLM over plain HTTP is readable and relayable.',
    fix: 'Serve the site over HTTPS only.',
    config: [{ where: HTTPS, lines: ['listen 443 ssl;', 'if ($scheme = http) { return 301 https://$host$request_uri; }'] }]
  },
  'http-basic-auth': {
    risk: 'HTTP Basic sends the password itself, base64-encoded, to anyone who can see the traffic.',
    fix: 'Serve the site over HTTPS only, and change the passwords that were seen.',
    config: [{ where: HTTPS, lines: ['listen 443 ssl;', 'if ($scheme = http) { return 301 https://$host$request_uri; }'] }]
  },
  'http-digest-auth': {
    risk: 'HTTP Digest exposes the user name and a crackable response.',
    fix: 'Serve the site over HTTPS only.',
    config: [{ where: HTTPS, lines: ['listen 443 ssl;'] }]
  },
  'ftp-cleartext-credentials': {
    risk: 'FTP sends user names and passwords in clear.',
    fix: 'Require TLS for logins and data (or move to SFTP), and change the passwords that were seen.',
    config: [
      {
        where: VSFTPD,
        lines: [
          'ssl_enable=YES',
          'force_local_logins_ssl=YES',
          'force_local_data_ssl=YES',
          'allow_anon_ssl=NO',
          'rsa_cert_file=/etc/ssl/certs/vsftpd.pem',
          'rsa_private_key_file=/etc/ssl/private/vsftpd.key'
        ]
      }
    ]
  },
  'ftp-bruteforce': {
    risk: 'Someone is guessing FTP passwords.',
    fix: 'Slow down and ban repeated failures; check the client host.',
    config: [
      { where: VSFTPD, lines: ['max_login_fails=3', 'delay_failed_login=5'] },
      { where: 'fail2ban — /etc/fail2ban/jail.local', lines: ['[vsftpd]', 'enabled = true'] }
    ]
  },
  'cleartext-file-transfer': {
    risk: 'File names and contents crossed the LAN in clear (FTP, HTTP, WebDAV).',
    fix: 'Move the transfer to an encrypted protocol: FTPS or SFTP, HTTPS, SMB3 with encryption, or a hardened peerguard share.',
    config: [
      { where: VSFTPD, lines: ['ssl_enable=YES', 'force_local_data_ssl=YES'] },
      {
        where: PEERGUARD_SHARE,
        lines: [
          'peerguard share serve FOLDER --identity node.key --cert node.pem --trust ca.pem --policy policy.yaml --log decisions.jsonl'
        ]
      }
    ]
  },
  'nfs-auth-sys': {
    risk: 'With AUTH_SYS the client asserts its own uid and gid: any host on the LAN can claim any user.',
    fix: 'Export with Kerberos privacy (krb5p), or at least limit the export to known hosts.',
    config: [{ where: 'NFS — /etc/exports (then exportfs -ra)', lines: ['/srv/share 192.168.1.0/24(rw,sec=krb5p,root_squash)'] }]
  },
  'nfs-root-credential': {
    risk: 'A client acting as root (uid 0) on the export.',
    fix: 'Keep root_squash on every export.',
    config: [{ where: 'NFS — /etc/exports (then exportfs -ra)', lines: ['/srv/share 192.168.1.0/24(rw,sec=krb5p,root_squash)'] }]
  },
  'bittorrent-plaintext': {
    risk: 'Plaintext BitTorrent shows which torrents (info-hashes) a host shares and their content.',
    fix: 'Require protocol encryption, or keep BitTorrent off the LAN.',
    config: [
      { where: ARIA2, lines: ['bt-require-crypto=true', 'bt-min-crypto-level=arc4'] },
      { where: TRANSMISSION, lines: ['"encryption": 2'] }
    ]
  },
  'bittorrent-dht': {
    risk: 'DHT announces the info-hashes a host shares to the whole swarm.',
    fix: 'Turn DHT off for private content.',
    config: [
      { where: ARIA2, lines: ['enable-dht=false', 'enable-dht6=false'] },
      { where: TRANSMISSION, lines: ['"dht-enabled": false'] }
    ]
  },
  'bittorrent-lsd': {
    risk: 'Local service discovery multicasts the info-hashes a host shares to every host on the LAN.',
    fix: 'Turn local peer discovery off.',
    config: [
      { where: ARIA2, lines: ['bt-enable-lpd=false'] },
      { where: TRANSMISSION, lines: ['"lpd-enabled": false'] }
    ]
  },
  'discovery-leak': {
    risk: 'Host and service names announced by mDNS, LLMNR, NBNS or SSDP map the LAN for anyone listening.',
    fix: 'Announce only what must be found; turn LLMNR and NetBIOS name service off.',
    config: [
      { where: 'Avahi — /etc/avahi/avahi-daemon.conf', lines: ['[publish]', 'publish-workstation=no', 'publish-hinfo=no'] },
      { where: SMB_CONF, lines: ['disable netbios = yes', 'multicast dns register = no'] },
      { where: 'systemd-resolved — /etc/systemd/resolved.conf', lines: ['LLMNR=no'] }
    ]
  },
  'peerguard-plain': {
    risk: 'The plain peerguard share has no authentication and no encryption.',
    fix: 'Serve the folder hardened (certificates, policy, decision log).',
    config: [
      {
        where: PEERGUARD_SHARE,
        lines: [
          'peerguard share serve FOLDER --identity node.key --cert node.pem --trust ca.pem --policy policy.yaml --log decisions.jsonl'
        ]
      }
    ]
  },
  'unknown-peer': {
    risk: 'A host that is not enrolled talks on the LAN.',
    fix: 'Identify it; enrol it (certificate and inventory entry) or remove it.',
    config: [
      {
        where: 'peerguard — enrol a peer',
        lines: ['peerguard cert issue --ca ca.key --csr peer.csr --out peer.pem', '# and add its addresses to the inventory']
      }
    ]
  },
  'policy-violation': {
    risk: 'An operation the policy does not allow happened.',
    fix: 'Check the rule that refuses it (policy explain), then fix the client, the server or the policy.',
    config: [
      {
        where: 'peerguard — why the policy refuses it',
        lines: ['peerguard policy explain policy.yaml --peer NAME --action get --resource share:NAME/PATH']
      }
    ]
  },
  'policy-requires-encryption': {
    risk: 'A resource the policy requires to be encrypted crossed the LAN in clear.',
    fix: 'Serve it only over the hardened share (or SMB3 with encryption required).',
    config: [
      { where: SMB_CONF, lines: ['server smb encrypt = required'] },
      {
        where: PEERGUARD_SHARE,
        lines: [
          'peerguard share serve FOLDER --identity node.key --cert node.pem --trust ca.pem --policy policy.yaml --log decisions.jsonl'
        ]
      }
    ]
  },
  'unlogged-access': {
    risk: 'A flow to a hardened node left no decision in its log: the log is incomplete or was not given.',
    fix: 'Give the audit every decision log of the node; check the node writes one.',
    config: [
      { where: 'peerguard — the node writes a decision log', lines: ['peerguard share serve FOLDER … --log decisions.jsonl'] }
    ]
  },
  'decision-log-unverified': {
    risk: 'The decision log does not verify: entries were edited, removed, reordered or signed by another key.',
    fix: 'Verify it and compare with the shipped checkpoints; treat entries after the damage as untrusted.',
    config: [
      {
        where: 'peerguard — verify the log',
        lines: ['peerguard audit log verify decisions.jsonl --key PEER_ID --checkpoints shipped.txt']
      }
    ]
  }
}

const ALIASES: Readonly<Record<string, string>> = {
  'smb1-offered': 'smb1-in-use',
  'smb-unsigned': 'smb-signing-not-required'
}

/** The remediation of a finding code; undefined for informational codes with nothing to fix. */
export function remediationFor(code: string): Remediation | undefined {
  const key = Object.hasOwn(ALIASES, code) ? ALIASES[code]! : code
  return Object.hasOwn(byCode, key) ? byCode[key] : Object.hasOwn(LAN_REMEDIATIONS, key) ? LAN_REMEDIATIONS[key] : undefined
}
