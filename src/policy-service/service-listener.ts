// The listening socket of a service Postfix talks to (the policy service,
// the milter): TCP, loopback by default, or a Unix socket with its mode; a
// socket file left by a run that is gone is removed first.
import { chmod, lstat, unlink } from 'node:fs/promises';
import net from 'node:net';

export type ServiceAddress = { readonly kind: 'inet'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string };

export interface ServiceListenSettings {
  readonly socket?: string | undefined;
  readonly socket_mode: string;
  readonly address: { readonly host: string; readonly port: number };
}

/** Starts `server` listening where the settings say; resolves with the bound address. */
export async function listenService(server: net.Server, settings: ServiceListenSettings): Promise<ServiceAddress> {
  const listening = (...args: [string] | [number, string]): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(...(args as [number, string]), () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
  if (settings.socket !== undefined) {
    await removeStaleSocket(settings.socket);
    await listening(settings.socket);
    await chmod(settings.socket, Number.parseInt(settings.socket_mode, 8));
    return { kind: 'unix', path: settings.socket };
  }
  await listening(settings.address.port, settings.address.host);
  const bound = server.address() as net.AddressInfo;
  return { kind: 'inet', host: bound.address, port: bound.port };
}

/** A socket file left by a previous run that nothing answers on any more. */
export async function removeStaleSocket(path: string): Promise<void> {
  let isSocket = false;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch {
    return;
  }
  if (!isSocket) return; // not ours to remove: listen() fails with EADDRINUSE and says so
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (!alive) await unlink(path);
}
