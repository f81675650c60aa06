// The CA certificates that level "verify" trusts, read from the files the
// config names (delivery.tls_ca_file, a route's or the smarthost's
// tls_ca_file), once per file per configuration: a reload makes a new
// TlsTrust, so an edited CA file is read again. A file that cannot be read or
// holds no certificate is an answer too ({ error }): the deliveries that need
// it wait (4.3.5) instead of trusting something else.
import { readFileSync } from 'node:fs';
import { parseCaPem } from '../config/delivery-tls.ts';

export type CaLoad = { readonly file: string; readonly pem: string } | { readonly file: string; readonly error: string };

export class TlsTrust {
  readonly #loaded = new Map<string, CaLoad>();

  load(file: string): CaLoad {
    let load = this.#loaded.get(file);
    if (load === undefined) {
      load = readCaFile(file);
      this.#loaded.set(file, load);
    }
    return load;
  }
}

function readCaFile(file: string): CaLoad {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return { file, error: `cannot read: ${(error as Error).message}` };
  }
  const parsed = parseCaPem(text);
  return 'error' in parsed ? { file, error: parsed.error } : { file, pem: parsed.pem };
}
