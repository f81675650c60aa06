// Ports for test servers that go down and come back on the same port.
// The kernel takes bind(0) ports and connect()'s source ports from its
// ephemeral range (ip_local_port_range). A test server that closes its
// listener to play an upstream that is down frees its port there: another
// test file running at the same time may bind it, or the relay's own
// connect() may even get it as its source port and connect to itself. The
// relay under test then talks to a stranger instead of getting ECONNREFUSED,
// and its attempt waits out command_timeout (the rare "upstream down" flake
// of test/mail-flow/accept-and-deliver.test.ts under a loaded CI). A port
// below the ephemeral range is never handed out by the kernel, so while the
// server is down nothing else takes it.
import { readFileSync } from 'node:fs';

/** The low end of the kernel's ephemeral port range (Linux's default where /proc does not say). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32768;
  } catch {
    return 32768;
  }
}

const TRIES = 40;

/**
 * Listens through `listen` on a random port below the ephemeral range
 * (trying another one while a port is taken), or on port 0 where that range
 * is too small to pick from. Returns the port listened on.
 */
export async function listenOnStablePort(listen: (port: number) => Promise<number>, random: () => number = Math.random): Promise<number> {
  const high = ephemeralLow();
  const low = Math.max(10_000, high - 12_000);
  if (high - low < 1_000) return listen(0);
  for (let i = 0; i < TRIES; i++) {
    const port = low + Math.floor(random() * (high - low));
    try {
      return await listen(port);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EADDRINUSE' && code !== 'EACCES') throw error;
    }
  }
  return listen(0);
}
