// A self-signed certificate and key for `hostname`, valid ten years: what the
// listeners present when no certificate is configured (tls-material.ts).
// In its own module so tls-material.ts can import it only when it must
// generate: a relay with a certificate never loads selfsigned and its
// X.509/ASN.1 libraries (~3 MiB of RSS). A package is lazy-loaded through a
// module of ours, never `await import('selfsigned')` itself: in the bundle
// (scripts/build.js) a CommonJS package imported that way has only `default`.
import { generate } from 'selfsigned';

export async function generateSelfSignedPair(hostname: string): Promise<{ key: string; cert: string }> {
  const notAfter = new Date(Date.now() + 10 * 365 * 86_400_000);
  const pems = await generate([{ name: 'commonName', value: hostname }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: notAfter,
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: hostname }] }],
  } as Parameters<typeof generate>[1]);
  return { key: pems.private, cert: pems.cert };
}
