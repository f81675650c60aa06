// The certificate and key the listeners present. With none configured, a
// self-signed pair for the configured hostname is generated into
// <data_dir>/tls on first start and reused afterwards, so STARTTLS works out of
// the box and clients that pin the certificate see the same one every time.
// The generator (self-signed-pair.ts) is loaded only to generate.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';

export interface TlsMaterial {
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly selfSigned: boolean;
  readonly certFile: string;
}

export async function loadTlsMaterial(config: Config, logger: Logger): Promise<TlsMaterial> {
  const base = path.dirname(config.configFile);
  if (config.tls.cert && config.tls.key) {
    const certFile = path.resolve(base, config.tls.cert);
    const [cert, key] = await Promise.all([readFile(certFile), readFile(path.resolve(base, config.tls.key))]);
    return { key, cert, selfSigned: false, certFile };
  }
  const dir = path.join(config.dataDir, 'tls');
  const certFile = path.join(dir, 'self-signed-cert.pem');
  const keyFile = path.join(dir, 'self-signed-key.pem');
  try {
    const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
    return { key, cert, selfSigned: true, certFile };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { generateSelfSignedPair } = await import('./self-signed-pair.ts');
  const pems = await generateSelfSignedPair(config.hostname);
  // Key first, then cert: a crash in between leaves no cert, so the next
  // start regenerates instead of pairing a cert with a missing key.
  await writeFile(`${keyFile}.tmp`, pems.key, { mode: 0o600 });
  await rename(`${keyFile}.tmp`, keyFile);
  await writeFile(`${certFile}.tmp`, pems.cert, { mode: 0o644 });
  await rename(`${certFile}.tmp`, certFile);
  logger.warn({ certFile }, 'no TLS certificate configured: generated a self-signed one (set tls.cert and tls.key for production)');
  return { key: Buffer.from(pems.key), cert: Buffer.from(pems.cert), selfSigned: true, certFile };
}
