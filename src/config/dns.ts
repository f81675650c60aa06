// The relay's resolver from config [dns]: a server given by name instead of
// IP is a configuration error naming the file (the schema lets host names
// through for other host:port settings).
import type { Resolver } from 'node:dns/promises';
import { ConfigError } from './errors.ts';
import { createResolver, nonIpServers, type DnsSettings } from '../net/dns-resolver.ts';

/** `file` names the config file in the error. */
export function createDnsResolver(settings: DnsSettings, file = 'config.toml'): Resolver {
  const bad = nonIpServers(settings);
  if (bad.length > 0) {
    throw new ConfigError(bad.map((server) => ({ file, line: 0, message: `dns.servers: "${server.host}" is not an IP address` })));
  }
  return createResolver(settings);
}
