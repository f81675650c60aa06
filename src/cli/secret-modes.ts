// `relayguard check` warns (never fails) when a secret file is readable by
// more than the service: users.toml (password hashes), the TLS key
// (tls.key, or data_dir/tls/self-signed-key.pem). Others may not read it
// (mode & 0o004), and a group that may read it must be the service's group:
// [service] group, else [service] user, else "relayguard" (the systemd
// unit's User=). README "/etc/relayguard" gives the intended owners and modes.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.ts';

/** The gid of group `name` from /etc/group, or undefined when there is no such group (or no /etc/group). */
function gidOf(name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  let text: string;
  try {
    text = readFileSync('/etc/group', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [group, , gid] = line.split(':');
    if (group === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}

/** The secret files of `config` that exist, as absolute paths. */
function secretFiles(config: Config): string[] {
  const base = path.dirname(config.configFile);
  const key = config.tls.key ? path.resolve(base, config.tls.key) : path.join(config.dataDir, 'tls', 'self-signed-key.pem');
  return [path.join(config.policiesDir, 'users.toml'), key];
}

/** One warning line per secret file readable by others or by a group other than the service's. */
export function secretFileWarnings(config: Config): string[] {
  const groupName = config.service.group ?? config.service.user ?? 'relayguard';
  const serviceGid = gidOf(groupName);
  const warnings: string[] = [];
  for (const file of secretFiles(config)) {
    let mode: number;
    let gid: number;
    try {
      ({ mode, gid } = statSync(file));
    } catch {
      continue; // a missing users.toml is an empty one; a missing key is reported elsewhere or generated
    }
    const octal = (mode & 0o777).toString(8).padStart(3, '0');
    if (mode & 0o004) {
      warnings.push(`warning: ${file} is readable by every user (mode ${octal}): chmod o-rwx ${file}`);
    } else if (mode & 0o040 && gid !== serviceGid) {
      warnings.push(`warning: ${file} is readable by group ${gid}, not the service's group ${groupName}: chgrp ${groupName} ${file}, or chmod g-rwx ${file}`);
    }
  }
  return warnings;
}
