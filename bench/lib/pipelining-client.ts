// A client that pipelines (RFC 2920) as Postfix's smtp client does: EHLO,
// then MAIL, RCPT and DATA in one group (their replies checked in order),
// then the message with its dot and QUIT in one more. smtp-source never
// pipelines; bench/pipelined-cpu.ts and bench/fs-calls.ts load the relay
// with this one.
import net from 'node:net';
import { LOCAL_DOMAIN, SENDER_DOMAIN } from './relay-child.ts';

const BODY = `Subject: bench\r\n\r\n${'x'.repeat(76)}\r\n`.repeat(12);

/** One pipelined session delivering one message; resolves when the server has closed. */
function session(port: number, n: number, tag: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let text = '';
    let step = 0;
    const timer = setTimeout(() => socket.destroy(new Error(`session ${n} timed out at step ${step}: ${text.slice(-200)}`)), 60_000);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      // Each step waits for the complete last line it expects.
      if (step === 0 && /^220 .*\r\n/m.test(text)) {
        step = 1;
        text = '';
        socket.write(`EHLO ${SENDER_DOMAIN}\r\n`);
      } else if (step === 1 && /^250 .*\r\n/m.test(text)) {
        step = 2;
        text = '';
        socket.write(`MAIL FROM:<sender@${SENDER_DOMAIN}>\r\nRCPT TO:<${n}${tag}@${LOCAL_DOMAIN}>\r\nDATA\r\n`);
      } else if (step === 2 && /^354 .*\r\n/m.test(text)) {
        if (!/^250 [^\r]*\r\n250 [^\r]*\r\n354 /.test(text)) socket.destroy(new Error(`session ${n}: ${text}`));
        step = 3;
        text = '';
        socket.write(`${BODY}.\r\nQUIT\r\n`);
      } else if (step === 3 && /^221 .*\r\n/m.test(text)) {
        if (!/^250 /.test(text)) socket.destroy(new Error(`session ${n}: ${text}`));
        step = 4;
      }
    });
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      if (step === 4) resolve();
      else reject(new Error(`session ${n} closed at step ${step}: ${text.slice(-200)}`));
    });
  });
}

/**
 * Sends `count` messages, one per connection, `sessions` connections at a
 * time; recipients are <N><tag>@LOCAL_DOMAIN from N = `first` (each unique).
 */
export async function sendPipelined(port: number, o: { count: number; first: number; sessions: number; tag: string }): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < o.count) await session(port, o.first + next++, o.tag);
  };
  await Promise.all(Array.from({ length: Math.min(o.sessions, o.count) }, lane));
}
