/**
 * Fixes for the shared peripherals and legacy services of a LAN: printing (IPP, raw 9100, LPD),
 * scanning (eSCL, WSD), telnet, TFTP, the rsync daemon and NFS data in clear. One entry per finding
 * code, each with the configuration lines that remove the exposure (or shrink it where the
 * protocol has no secure form).
 */
import type { Remediation } from './remediation.js'

const CUPSD = 'CUPS — /etc/cups/cupsd.conf (then systemctl restart cups)'
const CUPS_BACKENDS = 'CUPS — disable the lpd and socket (port 9100) backends'
const EXPORTS = 'NFS — /etc/exports (then exportfs -ra)'
const RSYNCD = 'rsync daemon — /etc/rsyncd.conf, per module'
const RSYNC_SSH = 'rsync over SSH instead of the daemon (rsync:// or host::module)'

const CUPS_IPPS = ['DefaultEncryption Required', 'Listen /run/cups/cups.sock', 'Port 631', 'Browsing No']
const CUPS_NO_LEGACY = [
  'chmod 0000 /usr/lib/cups/backend/lpd /usr/lib/cups/backend/socket',
  'lpadmin -p QUEUE -v ipps://PRINTER/ipp/print'
]

/** Remediation of each LAN peripheral and legacy-service finding code. */
export const LAN_REMEDIATIONS: Readonly<Record<string, Remediation>> = {
  'ipp-print-job': {
    risk: 'Print jobs cross the LAN in clear: anyone who sees the traffic reads the document, the user and the job name.',
    fix: 'Require encryption in CUPS (IPP over TLS, ipps://) and point queues at the printer over IPPS.',
    config: [
      { where: CUPSD, lines: CUPS_IPPS },
      { where: 'CUPS — each queue (lpadmin)', lines: ['lpadmin -p QUEUE -v ipps://PRINTER/ipp/print -E'] }
    ]
  },
  'ipp-cleartext': {
    risk: 'IPP requests in clear show printers, job names and user names to anyone on the path.',
    fix: 'Require encryption in CUPS (IPPS) so clients cannot fall back to plain IPP.',
    config: [{ where: CUPSD, lines: CUPS_IPPS }]
  },
  'raw-print-job': {
    risk: 'Raw port-9100 printing accepts jobs from anyone with no authentication and carries them (and PJL user and job names) in clear.',
    fix: 'Close raw port 9100 on the printer; print through CUPS over IPPS only.',
    config: [
      { where: CUPS_BACKENDS, lines: CUPS_NO_LEGACY },
      { where: CUPSD, lines: ['DefaultEncryption Required'] },
      {
        where: 'Printer web interface (or its SNMP/PJL settings)',
        lines: ['Raw/JetDirect port 9100: disabled', 'LPD: disabled', 'IPPS: enabled']
      }
    ]
  },
  'lpd-print-job': {
    risk: 'LPD (RFC 1179) sends jobs, user, host and file names in clear and trusts the client to say who it is.',
    fix: 'Stop using LPD queues: print through CUPS over IPPS and turn the LPD service off.',
    config: [
      { where: CUPS_BACKENDS, lines: CUPS_NO_LEGACY },
      { where: 'cups-lpd (inetd/systemd socket)', lines: ['systemctl disable --now cups-lpd.socket'] },
      { where: CUPSD, lines: ['DefaultEncryption Required'] }
    ]
  },
  'scan-cleartext': {
    risk: 'Scanned pages and scan settings cross the LAN in clear (eSCL or WSD over plain HTTP).',
    fix: 'Scan over eSCL on HTTPS (port 443) and turn WSD scanning and plain-HTTP eSCL off on the device.',
    config: [
      {
        where: 'Scanner web interface',
        lines: ['eSCL / AirScan: HTTPS only', 'WSD scan: disabled', 'HTTP (port 80): redirect to HTTPS']
      },
      { where: 'SANE — /etc/sane.d/airscan.conf, [devices]', lines: ['"Office scanner" = https://SCANNER/eSCL/, eSCL'] }
    ]
  },
  'telnet-cleartext-login': {
    risk: 'Telnet sends the login name and password in clear: anyone who saw the session can log in.',
    fix: 'Turn telnet off, use SSH with keys, and change the passwords that were seen.',
    config: [
      {
        where: 'Debian — the telnet server',
        lines: ['systemctl disable --now inetd', 'apt-get purge telnetd inetutils-telnetd']
      },
      { where: 'OpenSSH — /etc/ssh/sshd_config', lines: ['PasswordAuthentication no', 'PermitRootLogin no'] },
      { where: 'Switches and printers', lines: ['no telnet server', 'ip ssh version 2'] }
    ]
  },
  'telnet-session': {
    risk: 'A telnet session carries every command and its output in clear, and can be hijacked.',
    fix: 'Turn telnet off and use SSH.',
    config: [
      {
        where: 'Debian — the telnet server',
        lines: ['systemctl disable --now inetd', 'apt-get purge telnetd inetutils-telnetd']
      },
      { where: 'Switches and printers', lines: ['no telnet server', 'ip ssh version 2'] }
    ]
  },
  'tftp-transfer': {
    risk: 'TFTP has no authentication and no encryption: anyone can fetch or replace the files (often switch configurations with secrets).',
    fix: 'Copy configurations with scp/sftp; where TFTP must stay (PXE), serve read-only from a chroot on the management network only.',
    config: [
      { where: 'Switches and routers', lines: ['copy running-config scp://backup@10.0.0.2/configs/'] },
      {
        where: 'tftpd-hpa — /etc/default/tftpd-hpa (read-only, chrooted, one address)',
        lines: ['TFTP_DIRECTORY="/srv/tftp"', 'TFTP_ADDRESS="10.0.0.2:69"', 'TFTP_OPTIONS="--secure"']
      },
      { where: 'nftables — only the management hosts', lines: ['udp dport 69 ip saddr != 10.0.0.0/24 drop'] }
    ]
  },
  'rsync-daemon-transfer': {
    risk: 'The rsync daemon moves file names and contents in clear, and without auth users any host can read or write the module.',
    fix: 'Run rsync over SSH; where the daemon must stay, require auth users with a secrets file and limit hosts.',
    config: [
      { where: RSYNC_SSH, lines: ['rsync -a -e ssh SRC/ backup@server:/srv/backup/'] },
      {
        where: RSYNCD,
        lines: ['auth users = backup', 'secrets file = /etc/rsyncd.secrets', 'hosts allow = 192.168.1.0/24', 'read only = yes']
      },
      { where: 'rsync daemon — the secrets file', lines: ['chmod 600 /etc/rsyncd.secrets'] }
    ]
  },
  'rsync-module-list': {
    risk: 'The rsync daemon lists its modules to anyone who asks, mapping what can be fetched.',
    fix: 'Hide modules from the list and require auth users (or use rsync over SSH).',
    config: [
      { where: RSYNCD, lines: ['list = no', 'auth users = backup', 'secrets file = /etc/rsyncd.secrets'] },
      { where: RSYNC_SSH, lines: ['rsync -a -e ssh SRC/ backup@server:/srv/backup/'] }
    ]
  },
  'nfs-cleartext-data': {
    risk: 'NFS file contents and names cross the LAN in clear (no RPCSEC_GSS privacy).',
    fix: 'Export with Kerberos privacy (sec=krb5p) and mount with it; plain sys or krb5i do not encrypt data.',
    config: [
      { where: EXPORTS, lines: ['/srv/share 192.168.1.0/24(rw,sec=krb5p,root_squash)'] },
      { where: 'NFS client — /etc/fstab', lines: ['server:/srv/share /mnt/share nfs4 sec=krb5p 0 0'] }
    ]
  }
}
