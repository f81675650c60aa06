// RCPT relay list: clients in relay-networks may relay anywhere.
import { dunno, permit, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { RcptContext } from '../context.ts';

export const relayNetworksRule: Rule<RcptContext> = {
  name: 'relay-networks',
  evaluate(ctx, snapshot): Decision {
    const entry = snapshot.relayNetworks.lookup(ctx.clientIp);
    if (!entry) return dunno('rcpt', 'relay-networks');
    return permit('rcpt', 'relay-networks', 'relay.trusted_network', { cidr: entry.cidr, file: entry.file, line: entry.line });
  },
};
