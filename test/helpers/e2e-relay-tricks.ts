// The open-relay tricks sent over the wire by test/relay-control, with the reply
// each must get from a client OUTSIDE relay-networks, when local-domains holds
// example.test and bücher.example and the relay listens on 127.0.0.1.
// `rcpt` is the exact text after "RCPT TO:". `reason` is the policy's reason
// code when the policy decides; rows without one are refused earlier, by the
// SMTP layer (smtp-server's parser or the front door's line checks).
// Every row is a permanent 5xx: a 4xx would make the tester's client retry.

export interface RelayTrick {
  readonly name: string;
  readonly rcpt: string;
  /** Reply code and enhanced status code, e.g. "550 5.7.1". */
  readonly expect: string;
  readonly reason?: string;
}

const DENIED = '554 5.7.1';
const TRICK = '550 5.7.1';
const SYNTAX = '553 5.1.3';

const longPath = `<${'x'.repeat(64)}@${'d'.repeat(63)}.${'e'.repeat(63)}.${'f'.repeat(63)}.test>`;

export const RELAY_TRICKS: readonly RelayTrick[] = [
  // plain relaying
  { name: 'foreign domain', rcpt: '<user@foreign.test>', expect: DENIED, reason: 'relay.denied' },
  { name: 'foreign, upper case + trailing dot', rcpt: '<user@FOREIGN.TEST.>', expect: DENIED, reason: 'relay.denied' },
  { name: 'foreign, with an ESMTP parameter', rcpt: '<user@foreign.test> NOTIFY=NEVER', expect: DENIED, reason: 'relay.denied' },
  { name: 'foreign, space after the colon', rcpt: ' <user@foreign.test>', expect: DENIED, reason: 'relay.denied' },
  { name: 'subdomain of a local domain', rcpt: '<user@sub.example.test>', expect: DENIED, reason: 'relay.denied' },
  { name: 'local domain as a prefix', rcpt: '<user@example.test.foreign.test>', expect: DENIED, reason: 'relay.denied' },
  { name: 'local domain as a suffix', rcpt: '<user@notexample.test>', expect: DENIED, reason: 'relay.denied' },
  { name: '% with a foreign domain', rcpt: '<user%example.test@foreign.test>', expect: DENIED, reason: 'relay.denied' },
  { name: 'foreign IDN (U-label)', rcpt: '<user@Bücher.test>', expect: DENIED, reason: 'relay.denied' },
  { name: 'homograph of a local domain (Cyrillic a)', rcpt: '<user@ex\u0430mple.test>', expect: DENIED, reason: 'relay.denied' },
  // (the domainless <postmaster> is no trick: since issue 16 it is accepted, test/e2e-relay/postmaster-and-literals.test.ts)
  // source routes (RFC 5321 A-d-l): smtp-server would drop them; the policy sees them
  { name: 'source route list', rcpt: '<@a.test,@b.test:user@foreign.test>', expect: TRICK, reason: 'rcpt.source_route' },
  { name: 'source route via a local domain', rcpt: '<@example.test:user@foreign.test>', expect: TRICK, reason: 'rcpt.source_route' },
  { name: 'source route via our literal', rcpt: '<@[127.0.0.1]:user@foreign.test>', expect: TRICK, reason: 'rcpt.source_route' },
  { name: 'source route local to local', rcpt: '<@example.test:user@example.test>', expect: TRICK, reason: 'rcpt.source_route' },
  // % hack on a local destination, every spelling of it
  { name: '% hack', rcpt: '<user%foreign.test@example.test>', expect: TRICK, reason: 'rcpt.percent_hack' },
  { name: '% hack, upper case + trailing dot', rcpt: '<user%foreign.test@EXAMPLE.TEST.>', expect: TRICK, reason: 'rcpt.percent_hack' },
  { name: '% hack, fullwidth local domain', rcpt: '<user%foreign.test@ｅｘａｍｐｌｅ.test>', expect: TRICK, reason: 'rcpt.percent_hack' },
  { name: '% hack, IDN local domain (U-label, upper case)', rcpt: '<user%foreign.test@BÜCHER.example>', expect: TRICK, reason: 'rcpt.percent_hack' },
  { name: '% hack, IDN local domain (A-label)', rcpt: '<user%foreign.test@xn--bcher-kva.example>', expect: TRICK, reason: 'rcpt.percent_hack' },
  { name: '% hack via our literal', rcpt: '<user%foreign.test@[127.0.0.1]>', expect: TRICK, reason: 'rcpt.percent_hack' },
  { name: 'double % hack', rcpt: '<user%foreign.test%example.test@example.test>', expect: TRICK, reason: 'rcpt.percent_hack' },
  // ! (UUCP) paths on a local destination
  { name: 'bang path', rcpt: '<foreign.test!user@example.test>', expect: TRICK, reason: 'rcpt.bang_path' },
  { name: 'bang path, mixed case + trailing dot', rcpt: '<foreign.test!user@Example.Test.>', expect: TRICK, reason: 'rcpt.bang_path' },
  { name: 'bang path via our literal', rcpt: '<foreign.test!user@[127.0.0.1]>', expect: TRICK, reason: 'rcpt.bang_path' },
  // quoted local parts hiding routing
  { name: 'quoted @', rcpt: '<"user@foreign.test"@example.test>', expect: TRICK, reason: 'rcpt.quoted_route' },
  { name: 'quoted %', rcpt: '<"user%foreign.test"@example.test>', expect: TRICK, reason: 'rcpt.quoted_route' },
  { name: 'quoted !', rcpt: '<"foreign.test!user"@example.test>', expect: TRICK, reason: 'rcpt.quoted_route' },
  { name: 'quoted escaped @', rcpt: '<"user\\@foreign.test"@example.test>', expect: TRICK, reason: 'rcpt.quoted_route' },
  { name: 'quoted @ via our literal', rcpt: '<"user@foreign.test"@[127.0.0.1]>', expect: TRICK, reason: 'rcpt.quoted_route' },
  // more than one @
  { name: 'user@foreign@local', rcpt: '<user@foreign.test@example.test>', expect: TRICK, reason: 'rcpt.multiple_at' },
  { name: 'user@local@foreign', rcpt: '<user@example.test@foreign.test>', expect: TRICK, reason: 'rcpt.multiple_at' },
  { name: 'escaped @ outside quotes', rcpt: '<user\\@foreign.test@example.test>', expect: TRICK, reason: 'rcpt.multiple_at' },
  // address literals that are not ours
  { name: 'IPv4 literal not ours', rcpt: '<user@[192.0.2.1]>', expect: TRICK, reason: 'rcpt.address_literal' },
  { name: 'another loopback literal', rcpt: '<user@[127.0.0.2]>', expect: TRICK, reason: 'rcpt.address_literal' },
  { name: 'IPv6 literal not ours', rcpt: '<user@[IPv6:2001:db8::1]>', expect: TRICK, reason: 'rcpt.address_literal' },
  { name: 'general address literal', rcpt: '<user@[x-relay:foreign.test]>', expect: TRICK, reason: 'rcpt.address_literal' },
  { name: '% hack via a literal not ours', rcpt: '<user%foreign.test@[192.0.2.1]>', expect: TRICK, reason: 'rcpt.address_literal' },
  // syntax
  { name: 'IP without brackets', rcpt: '<user@127.0.0.1>', expect: SYNTAX, reason: 'rcpt.bad_address' },
  { name: 'missing domain', rcpt: '<user@>', expect: SYNTAX, reason: 'rcpt.bad_address' },
  { name: 'no @ at all', rcpt: '<user>', expect: SYNTAX, reason: 'rcpt.bad_address' },
  { name: 'only @', rcpt: '<@>', expect: SYNTAX, reason: 'rcpt.bad_address' },
  { name: 'percent-encoded domain', rcpt: '<user@ex%61mple.test>', expect: SYNTAX, reason: 'rcpt.bad_address' },
  { name: 'double trailing dot', rcpt: '<user@example.test..>', expect: SYNTAX, reason: 'rcpt.bad_address' },
  { name: 'path/port after the domain', rcpt: '<user@example.test:25>', expect: SYNTAX, reason: 'rcpt.bad_address' },
  { name: 'comma list in the domain', rcpt: '<user@foreign.test,example.test>', expect: SYNTAX, reason: 'rcpt.bad_address' },
  // control and invisible characters
  { name: 'control character (SOH)', rcpt: '<user@example.test\u0001>', expect: SYNTAX, reason: 'rcpt.bad_address' },
  { name: 'tab in the local part', rcpt: '<user\t@example.test>', expect: SYNTAX, reason: 'rcpt.bad_address' },
  { name: 'bare CR inside the path', rcpt: '<user@example.test\r@foreign.test>', expect: SYNTAX, reason: 'rcpt.bad_address' },
  { name: 'DEL', rcpt: '<user@example.test\u007f>', expect: SYNTAX, reason: 'rcpt.bad_address' },
  { name: 'zero-width space in a local domain', rcpt: '<user@exam\u200bple.test>', expect: SYNTAX, reason: 'rcpt.bad_address' },
  { name: 'right-to-left override', rcpt: '<user@example.test\u202e>', expect: SYNTAX, reason: 'rcpt.bad_address' },
  // over-long
  { name: 'local part of 65 octets', rcpt: `<${'x'.repeat(65)}@example.test>`, expect: SYNTAX, reason: 'rcpt.bad_address' },
  { name: 'path over 256 octets', rcpt: longPath, expect: SYNTAX, reason: 'rcpt.bad_address' },
  // refused by the SMTP layer before the policy
  { name: 'null recipient <>', rcpt: '<>', expect: '501 5.1.3' },
  { name: 'bare address without <>', rcpt: 'user@foreign.test', expect: '501 5.1.3' },
  { name: 'second path after the first', rcpt: '<user@example.test> <user@foreign.test>', expect: '501 5.1.3' },
  { name: 'second path glued after the first', rcpt: '<user@example.test><user@foreign.test>', expect: '501 5.1.3' },
  { name: 'bare CR smuggling a second RCPT', rcpt: '<user@example.test\rRCPT TO:<user@foreign.test>', expect: '501 5.1.3' },
  { name: 'NUL byte', rcpt: '<user@example.test\u0000@foreign.test>', expect: '500 5.5.2' },
  { name: 'command line over 512 octets', rcpt: `<user@${'d'.repeat(520)}.test>`, expect: '500 5.5.2' },
];
