// PURE. The next hop a recipient probe asks (issue 16, live recipient
// verification): the same route or smarthost routing.ts would deliver the
// address to. A domain delivered by MX lookup has no fixed next hop and is
// not verified live (undefined). The shape matches facts/recipient-probe's
// NextHop; main.ts and explain hand this function to the facts runtime
// (delivery/ does not import facts/, nor facts/ delivery/).
import type { Config, UpstreamConfig } from '../config/schema.ts';
import { destinationFor } from './routing.ts';

export interface VerificationRoute {
  readonly key: string;
  readonly label: string;
  readonly hosts: ReadonlyArray<{ readonly host: string; readonly port: number }>;
  readonly tls: string;
  readonly auth?: { readonly user: string; readonly pass: string } | undefined;
}

const routes = new WeakMap<UpstreamConfig, VerificationRoute>();

export function verificationRoute(address: string, config: Config): VerificationRoute | undefined {
  const destination = destinationFor(address, config.delivery);
  if (destination.kind === 'mx') return undefined;
  const upstream = destination.upstream;
  let route = routes.get(upstream);
  if (route === undefined) {
    const hosts = upstream.hosts.map((h) => ({ host: h.host, port: h.port }));
    const list = hosts.map((h) => `${h.host}:${h.port}`).join(',');
    const auth = upstream.auth_user !== undefined ? { user: upstream.auth_user, pass: upstream.auth_password ?? '' } : undefined;
    route = {
      key: `${list} tls=${upstream.tls}${auth ? ` user=${auth.user}` : ''}`,
      label: `${destination.kind === 'route' ? destination.key : 'smarthost'} ${list}`,
      hosts,
      tls: upstream.tls,
      ...(auth ? { auth } : {}),
    };
    routes.set(upstream, route);
  }
  return route;
}
