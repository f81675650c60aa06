// The messages and the client of the mail-flow tests: a message whose bytes
// must arrive unchanged, sent with nodemailer (test/mail-flow, and the
// restart after SIGKILL in test/lifecycle).
import nodemailer from 'nodemailer';

export const POLICIES = { 'local-domains': 'example.test\n', 'relay-networks': '127.0.0.1\n' };

export function raw(subject: string): Buffer {
  // 8-bit bytes, a dot-leading line and a long-ish body: what must arrive unchanged.
  return Buffer.concat([
    Buffer.from(`From: alice@example.test\r\nTo: bob@example.test\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@example.test>\r\n\r\n`),
    Buffer.from('.a line starting with a dot\r\n\u00e9t\u00e9 latin-1 bytes: \xe9\xe0\r\n', 'latin1'),
    Buffer.from(`${'x'.repeat(900)}\r\n`.repeat(20)),
  ]);
}

export async function send(port: number, envelope: { from: string; to: string[] }, message: Buffer) {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, name: 'client.test' });
  try {
    return await transport.sendMail({ envelope, raw: message });
  } finally {
    transport.close();
  }
}
