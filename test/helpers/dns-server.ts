// A real DNS server on a loopback UDP port, for tests: DNSBL zones, MX and A
// records. Answers from a record table; names can be made to time out (no
// answer at all) or SERVFAIL. Counts every query so tests can assert caching
// and single-flight. A record named "*.zone" answers every name under zone
// that has no record of its own (a zone "listing everything"); delay() holds
// answers back (for benchmarks and single-flight tests).
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';

export type RecordType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'CNAME';

export interface TestRecord {
  readonly name: string;
  readonly type: RecordType;
  /** A/AAAA: address; MX: { preference, exchange }; TXT: text; CNAME: target. */
  readonly data: string | { preference: number; exchange: string };
  readonly ttl?: number;
}

export interface TestDnsServer {
  readonly host: string;
  readonly port: number;
  /** "127.0.0.1:PORT", ready for config dns.servers. */
  readonly address: string;
  add(record: TestRecord): void;
  clear(): void;
  /** Names that never get an answer (the client times out). */
  timeout(name: string): void;
  /** Names answered with SERVFAIL. */
  servfail(name: string): void;
  /** Answer `name` ("*" = every name) only after `ms` milliseconds. */
  delay(name: string, ms: number): void;
  /** Queries received for `name` (optionally of one type); all queries without a name. */
  queries(name?: string, type?: RecordType): number;
  resetCounts(): void;
  close(): Promise<void>;
}

const norm = (name: string): string => name.toLowerCase().replace(/\.$/, '');

export async function startDnsServer(host = '127.0.0.1'): Promise<TestDnsServer> {
  const records: TestRecord[] = [];
  const timeouts = new Set<string>();
  const servfails = new Set<string>();
  const delays = new Map<string, number>();
  let closed = false;
  const counts = new Map<string, number>();
  let total = 0;
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');

  socket.on('message', (message, remote) => {
    let query: dnsPacket.Packet;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return;
    }
    const question = query.questions?.[0];
    if (!question) return;
    const name = norm(question.name);
    total++;
    counts.set(`${name}|${question.type}`, (counts.get(`${name}|${question.type}`) ?? 0) + 1);
    if (timeouts.has(name)) return;
    const wait = delays.get(name) ?? delays.get('*') ?? 0;
    const send = (packet: Buffer): void => {
      // A delayed answer may come due after close(): drop it then.
      if (wait > 0) setTimeout(() => closed || socket.send(packet, remote.port, remote.address), wait);
      else socket.send(packet, remote.port, remote.address);
    };
    const base = { id: query.id, type: 'response' as const, questions: query.questions };
    if (servfails.has(name)) {
      send(dnsPacket.encode({ ...base, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | 2 }));
      return;
    }
    let matching = records.filter((r) => norm(r.name) === name);
    if (matching.length === 0) {
      matching = records.filter((r) => norm(r.name).startsWith('*.') && name.endsWith(norm(r.name).slice(1)));
    }
    const answers = matching
      .filter((r) => r.type === question.type || r.type === 'CNAME')
      .map((r) => {
        const ttl = r.ttl ?? 300;
        if (r.type === 'MX') return { type: 'MX' as const, name: question.name, ttl, data: r.data as { preference: number; exchange: string } };
        if (r.type === 'TXT') return { type: 'TXT' as const, name: question.name, ttl, data: r.data as string };
        if (r.type === 'CNAME') return { type: 'CNAME' as const, name: question.name, ttl, data: r.data as string };
        return { type: r.type, name: question.name, ttl, data: r.data as string };
      });
    // NXDOMAIN when the name does not exist at all; NOERROR/NODATA when it has other types.
    const rcode = matching.length === 0 ? 3 : 0;
    const response = {
      ...base,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | dnsPacket.AUTHORITATIVE_ANSWER | rcode,
      answers,
      authorities:
        answers.length === 0
          ? [{ type: 'SOA' as const, name: '.', ttl: 60, data: { mname: 'ns.test', rname: 'hostmaster.test', serial: 1, refresh: 60, retry: 60, expire: 60, minimum: 60 } }]
          : [],
    };
    send(dnsPacket.encode(response as dnsPacket.Packet));
  });

  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, host, () => resolve());
  });
  const port = socket.address().port;

  return {
    host,
    port,
    address: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`,
    add: (record) => void records.push(record),
    clear: () => {
      records.length = 0;
      timeouts.clear();
      servfails.clear();
      delays.clear();
    },
    timeout: (name) => void timeouts.add(norm(name)),
    servfail: (name) => void servfails.add(norm(name)),
    delay: (name, ms) => void delays.set(name === '*' ? '*' : norm(name), ms),
    queries: (name, type) => {
      if (name === undefined) return total;
      let sum = 0;
      for (const [key, count] of counts) {
        const [n, t] = key.split('|');
        if (n === norm(name) && (type === undefined || t === type)) sum += count;
      }
      return sum;
    },
    resetCounts: () => {
      counts.clear();
      total = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        closed = true;
        socket.close(() => resolve());
      }),
  };
}
