// Idle outbound sessions kept for the next message to the same host, so a
// busy destination costs one TCP + TLS + EHLO for many messages (Postfix's
// connection cache). Sessions are dropped after a short idle time, after a
// number of messages, or when the server closes them.
import type { SmtpSession } from './smtp-session.ts';

export interface ConnectionCacheOptions {
  readonly idleMs: number;
  readonly maxMessages: number;
  readonly maxAgeMs: number;
  readonly maxIdlePerKey: number;
}

interface Idle {
  readonly session: SmtpSession;
  readonly timer: NodeJS.Timeout;
}

export class ConnectionCache {
  readonly #idle = new Map<string, Idle[]>();
  readonly #options: ConnectionCacheOptions;

  constructor(options: ConnectionCacheOptions) {
    this.#options = options;
  }

  take(key: string): SmtpSession | undefined {
    const list = this.#idle.get(key);
    while (list && list.length > 0) {
      const idle = list.pop() as Idle;
      clearTimeout(idle.timer);
      if (list.length === 0) this.#idle.delete(key);
      if (idle.session.usable) return idle.session;
    }
    return undefined;
  }

  put(key: string, session: SmtpSession): void {
    const o = this.#options;
    const list = this.#idle.get(key) ?? [];
    if (
      !session.usable ||
      session.messages >= o.maxMessages ||
      Date.now() - session.openedAt >= o.maxAgeMs ||
      list.length >= o.maxIdlePerKey
    ) {
      session.quit();
      return;
    }
    const timer = setTimeout(() => {
      const current = this.#idle.get(key);
      const index = current?.findIndex((i) => i.session === session) ?? -1;
      if (current && index >= 0) {
        current.splice(index, 1);
        if (current.length === 0) this.#idle.delete(key);
      }
      session.quit();
    }, o.idleMs);
    timer.unref();
    list.push({ session, timer });
    this.#idle.set(key, list);
  }

  get size(): number {
    let n = 0;
    for (const list of this.#idle.values()) n += list.length;
    return n;
  }

  closeAll(): void {
    for (const list of this.#idle.values()) {
      for (const idle of list) {
        clearTimeout(idle.timer);
        idle.session.quit();
      }
    }
    this.#idle.clear();
  }
}
