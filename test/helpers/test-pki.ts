// A throwaway PKI for TLS tests: a CA and leaf certificates it signs (or
// another CA signs), made with selfsigned (already a dependency: the
// listeners' generated certificate). EC P-256 keys: fast to make.
import { generate } from 'selfsigned';

export interface KeyPair {
  readonly key: string;
  readonly cert: string;
}

type GenerateOptions = NonNullable<Parameters<typeof generate>[1]>;

const DAY = 86_400_000;

export async function createTestCa(commonName = 'relayguard test CA'): Promise<KeyPair> {
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - DAY),
    notAfterDate: new Date(Date.now() + 30 * DAY),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  } satisfies GenerateOptions);
  return { key: pems.private, cert: pems.cert };
}

export interface LeafOptions {
  /** DNS names in subjectAltName (the first is also the common name). */
  readonly names?: readonly string[];
  /** IP addresses in subjectAltName. */
  readonly ips?: readonly string[];
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}

/** A server certificate signed by `ca`. */
export async function issueLeaf(ca: KeyPair, options: LeafOptions): Promise<KeyPair> {
  const names = options.names ?? [];
  const ips = options.ips ?? [];
  const pems = await generate([{ name: 'commonName', value: names[0] ?? ips[0] ?? 'leaf' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate: options.notBefore ?? new Date(Date.now() - DAY),
    notAfterDate: options.notAfter ?? new Date(Date.now() + 30 * DAY),
    ca: { key: ca.key, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [...names.map((value) => ({ type: 2 as const, value })), ...ips.map((ip) => ({ type: 7 as const, ip }))],
      },
    ],
  } satisfies GenerateOptions);
  return { key: pems.private, cert: pems.cert };
}
