// One bound SMTP listener: its smtp-server, its address and its shutdown steps.
import type { ListenerConfig } from '../config/schema.ts';
import type { RelaySmtpServer } from './relay-smtp-server.ts';
import { sendArgs } from '../policy/replies.ts';

export class Listener {
  readonly name: string;
  readonly #config: ListenerConfig;
  readonly #server: RelaySmtpServer;
  #listening = false;

  constructor(name: string, config: ListenerConfig, server: RelaySmtpServer) {
    this.name = name;
    this.#config = config;
    this.#server = server;
  }

  get listening(): boolean {
    return this.#listening;
  }

  get server(): RelaySmtpServer {
    return this.#server;
  }

  listen(): Promise<{ name: string; host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.#server.server.once('error', onError);
      this.#server.listen(this.#config.address.port, this.#config.address.host, () => {
        this.#server.server.removeListener('error', onError);
        this.#listening = true;
        resolve(this.address());
      });
    });
  }

  address(): { name: string; host: string; port: number } {
    const bound = this.#server.server.address();
    if (bound && typeof bound === 'object') return { name: this.name, host: bound.address, port: bound.port };
    return { name: this.name, host: this.#config.address.host, port: this.#config.address.port };
  }

  /** Stops accepting new connections; existing ones continue. */
  stopAccepting(): Promise<void> {
    if (!this.#listening) return Promise.resolve();
    this.#listening = false;
    return new Promise((resolve) => {
      this.#server.server.close(() => undefined);
      resolve();
    });
  }

  /** Sends 421 to every connection not in a transaction; returns how many are still busy. */
  closeIdle(inTransaction: (sessionId: string) => boolean): number {
    let busy = 0;
    for (const session of this.#server.openSessions()) {
      if (inTransaction(session.id) || session.awaitingHandler) {
        busy++;
      } else {
        session.close(sendArgs('proto.shutdown')[1]);
      }
    }
    return busy;
  }

  /** Closes whatever is left (after the grace period). */
  closeAll(): Promise<void> {
    for (const session of this.#server.openSessions()) session.close(sendArgs('proto.shutdown:closing')[1]);
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
