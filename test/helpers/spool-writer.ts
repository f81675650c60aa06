// A child process for crash tests: opens the spool in argv[2], accepts
// argv[3] messages, prints their ids as one JSON line, then idles until it is
// killed (the test sends SIGKILL: no close(), no cleanup).
import { openSpool } from '../../src/spool/spool.ts';
import { silentLogger } from '../../src/log/logger.ts';

const spool = await openSpool({ dir: process.argv[2] as string, logger: silentLogger() });
const ids: string[] = [];
for (let i = 0; i < Number(process.argv[3] ?? 1); i++) {
  const body = Buffer.from(`Subject: crash ${i}\r\nMessage-ID: <crash${i}@sender.test>\r\n\r\nbody ${i}\r\n`);
  ids.push(await spool.accept({ sender: 'alice@sender.test', recipients: ['bob@dest.test'], clientIp: '192.0.2.1', helo: 'h', listener: 'mx', receivedAt: Date.now() }, body));
}
process.stdout.write(`${JSON.stringify(ids)}\n`);
setInterval(() => undefined, 1000);
