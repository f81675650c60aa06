// Started as root, the relay binds its ports and then runs as `[service] user`
// (and `group`) before any listener accepts a connection (issue 23).
//
// Everything the relay opens while starting (policies, TLS files, data_dir:
// spool, generated TLS pair) it opens with the service user's *effective*
// ids, so what works at start works on every reload too and every file it
// creates belongs to the service user. Only the bind runs with euid 0; then
// the real, effective and saved ids all become the user's (setgid, then
// initgroups, then setuid: afterwards there is no way back to root). The
// delivery worker thread and libuv's threads share the process credentials
// (glibc applies setuid to every thread). Node emits 'listening' and resolves
// the listen promises in ticks before the event loop polls for connections,
// so the drop, made in the continuation of the bind, precedes any accept.
//
// Not started as root, `[service] user` is not used (systemd's User= has
// already chosen the user). Started as root without it, the relay runs as
// root and logs a warning.
import type { Config } from './config/schema.ts';

export interface Privileges {
  /** Runs `bind` as root (effective uid 0) and returns with the process permanently the service user. */
  bindThenDrop<T>(bind: () => Promise<T>): Promise<T>;
  /** Who the process will run as after bindThenDrop: undefined when nothing changes. */
  readonly target?: { user: string; group: string };
}

/** POSIX credential calls (absent on Windows, where the relay never runs as root). */
interface Posix {
  geteuid(): number;
  seteuid(id: number | string): void;
  setegid(id: number | string): void;
  setuid(id: number | string): void;
  setgid(id: number | string): void;
  initgroups(user: number | string, extraGroup: number | string): void;
}

function posix(): Posix | undefined {
  const p = process as unknown as Partial<Posix>;
  return p.geteuid && p.seteuid && p.setegid && p.setuid && p.setgid && p.initgroups ? (p as Posix) : undefined;
}

/**
 * Called first thing in startRelay: started as root with `[service] user`, switches
 * the effective ids to the service user for the rest of start-up.
 */
export function assumeServiceUser(service: Config['service']): Privileges {
  const os = posix();
  if (!os || os.geteuid() !== 0 || service.user === undefined) return { bindThenDrop: (bind) => bind() };
  const user = service.user;
  const group = service.group ?? user;
  try {
    os.initgroups(user, group);
    os.setegid(group);
    os.seteuid(user);
  } catch (error) {
    throw new Error(`cannot run as [service] user = "${user}", group = "${group}": ${(error as Error).message}`, { cause: error });
  }
  return {
    target: { user, group },
    async bindThenDrop<T>(bind: () => Promise<T>): Promise<T> {
      os.seteuid(0);
      os.setegid(0);
      try {
        return await bind();
      } finally {
        // Bound or not, no root beyond this point.
        os.setgid(group);
        os.initgroups(user, group);
        os.setuid(user);
      }
    },
  };
}
