// The contract of each third-party seam (ARCHITECTURE: "One seam per borrowed
// internal"): every smtp-server and nodemailer member a seam relies on exists
// in the installed version with the shape the seam expects, the versions are
// pinned exactly, and nothing else under src/ reaches into those libraries. An
// upgrade that moves a member fails here, not in production.
// The members come from the lists the seams export, and the seams' own source
// is scanned for members missing from those lists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SMTPServer } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import MailerConnection from 'nodemailer/lib/smtp-connection';
import { SMTP_SERVER_SEAM } from '../../src/smtp/relay-smtp-server.ts';
import { NODEMAILER_SEAM, coalesceBodyWrites, recipientRefusals, rewriteCommands, serverExtensions } from '../../src/delivery/nodemailer-seam.ts';
import { createLogger, destinationOf } from '../../src/log/logger.ts';
import { SmtpTalk } from '../helpers/smtp-talk.ts';
import { startSmtpSink } from '../helpers/smtp-sink.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SEAM_FILES = {
  'smtp-server': 'src/smtp/relay-smtp-server.ts',
  nodemailer: 'src/delivery/nodemailer-seam.ts',
} as const;

const readJson = (file: string) => JSON.parse(fs.readFileSync(path.join(REPO, file), 'utf8')) as Record<string, unknown>;
const fingerprint = (fn: unknown) => crypto.createHash('sha256').update(String(fn)).digest('hex').slice(0, 16);
type Proto = Record<string, unknown>;

function assertMethods(proto: Proto, methods: Readonly<Record<string, number>>, owner: string): void {
  for (const [name, arity] of Object.entries(methods)) {
    const member = proto[name];
    assert.equal(typeof member, 'function', `${owner}.prototype.${name} is a method`);
    assert.equal((member as (...args: unknown[]) => unknown).length, arity, `${owner}.prototype.${name} takes ${arity} arguments`);
  }
}

function assertFields(instance: object, fields: Readonly<Record<string, readonly string[]>>, owner: string): void {
  for (const [name, types] of Object.entries(fields)) {
    assert.ok(name in instance, `${owner} has ${name}`);
    const value = (instance as Record<string, unknown>)[name];
    const kind = value === null ? 'null' : typeof value;
    assert.ok(types.includes(kind), `${owner}.${name} is ${types.join(' or ')}, not ${kind}`);
  }
}

/** Every library member a seam file names: `._x` / `['_x']` accesses, handler_* and overridden methods. */
function membersNamed(file: string): { accessed: Set<string>; overridden: Set<string> } {
  const source = fs.readFileSync(path.join(REPO, file), 'utf8').replace(/^\s*\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
  const accessed = new Set<string>();
  for (const match of source.matchAll(/(?:\.|\[')(_[A-Za-z]\w*|handler_[A-Z]+)\b/g)) accessed.add(match[1] as string);
  const overridden = new Set<string>();
  for (const match of source.matchAll(/\boverride\s+(\w+)\s*\(/g)) overridden.add(match[1] as string);
  return { accessed, overridden };
}

/** The .ts files under src/ and bench/ (bench/ measures the relay's libraries, through the seams too). */
function srcFiles(dir?: string): string[] {
  if (!dir) return ['src', 'bench'].flatMap((top) => srcFiles(path.join(REPO, top)));
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'work' || entry.name === 'node_modules' ? [] : srcFiles(full);
    return entry.name.endsWith('.ts') ? [path.relative(REPO, full)] : [];
  });
}

test('smtp-server and nodemailer are pinned to the exact versions the seams were written against, and installed at them', () => {
  const pkg = readJson('package.json') as { dependencies: Record<string, string> };
  const lock = readJson('package-lock.json') as { packages: Record<string, { version: string }> };
  for (const seam of [SMTP_SERVER_SEAM, NODEMAILER_SEAM]) {
    assert.equal(pkg.dependencies[seam.library], seam.version, `package.json pins ${seam.library} to exactly ${seam.version}`);
    assert.equal(lock.packages[`node_modules/${seam.library}`]?.version, seam.version, `package-lock.json has ${seam.library} ${seam.version}`);
    assert.equal(readJson(`node_modules/${seam.library}/package.json`).version, seam.version, `${seam.library} ${seam.version} is installed`);
  }
});

test("smtp-server: every prototype method the seam overrides or calls has the arity it expects, and the ones it re-implements are unchanged", () => {
  assertMethods(SMTPConnection.prototype as unknown as Proto, SMTP_SERVER_SEAM.connectionMethods, 'SMTPConnection');
  assertMethods(SMTPServer.prototype as unknown as Proto, SMTP_SERVER_SEAM.serverMethods, 'SMTPServer');
  for (const [where, expected] of Object.entries(SMTP_SERVER_SEAM.copied)) {
    const [owner, name] = where.split('.') as [string, string];
    const proto = (owner === 'SMTPConnection' ? SMTPConnection.prototype : SMTPServer.prototype) as unknown as Proto;
    assert.equal(fingerprint(proto[name]), expected, `${where} changed upstream: read it and carry the change into the override in ${SEAM_FILES['smtp-server']}`);
  }
  for (const [where, expected] of Object.entries(SMTP_SERVER_SEAM.pure)) {
    const [, name] = where.split('.') as [string, string];
    const proto = SMTPConnection.prototype as unknown as Proto;
    assert.equal(
      fingerprint(proto[name]),
      expected,
      `${where} changed upstream: check it is still a pure function of its arguments and the server's options (PlaceholderParses in ${SEAM_FILES['smtp-server']} remembers its results)`,
    );
  }
  assert.ok(
    String(SMTPConnection.prototype.send).includes(SMTP_SERVER_SEAM.sendWritesWhen),
    `SMTPConnection.send no longer writes only when ${SMTP_SERVER_SEAM.sendWritesWhen}: the reply after a client's FIN depends on it`,
  );
});

test('smtp-server: the options reach net.createServer, so allowHalfOpen keeps our side open after a client\'s FIN', () => {
  const server = new SMTPServer({ allowHalfOpen: true, logger: false } as ConstructorParameters<typeof SMTPServer>[0]);
  assert.equal((server.server as unknown as { allowHalfOpen?: boolean }).allowHalfOpen, true);
});

test('smtp-server: a live connection has the fields the seam reads, _handlerPending is set while a handler owes a reply, and RSET goes through _resetSession', async (t) => {
  let release: (() => void) | undefined;
  const server = new SMTPServer({
    disableReverseLookup: true,
    authOptional: true,
    hideSTARTTLS: true,
    logger: false,
    closeTimeout: 1000,
    onMailFrom(_address, _session, callback) {
      release = () => callback();
    },
  });
  server.on('error', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.server.address();
  const client = await SmtpTalk.connect({ port: typeof address === 'object' && address ? address.port : 0 });
  t.after(() => client.close());
  assert.equal((await client.read())?.code, 220);

  assertFields(server, SMTP_SERVER_SEAM.serverFields, 'SMTPServer');
  assert.ok(server.connections instanceof Set);
  const [connection] = [...server.connections];
  assert.ok(connection instanceof SMTPConnection, 'server.connections holds SMTPConnection objects');
  assertFields(connection, SMTP_SERVER_SEAM.connectionFields, 'SMTPConnection');
  assert.equal(connection._ready, true, '_ready once greeted');

  // The raw-path override hands smtp-server a placeholder and reads back { address, args }.
  assert.deepEqual(connection._parseAddressCommand('mail from', 'MAIL FROM:<placeholder@example.invalid> SIZE=10'), {
    address: 'placeholder@example.invalid',
    args: { SIZE: '10' },
  });

  assert.equal((await client.command('EHLO client.test')).code, 250);
  let resets = 0;
  const reset = connection._resetSession.bind(connection);
  connection._resetSession = () => {
    resets++;
    reset();
  };
  assert.equal((await client.command('RSET')).code, 250);
  assert.equal(resets, 1, 'RSET calls _resetSession (the seam reports resets from there)');

  assert.equal(connection._handlerPending, false);
  // handler_MAIL/handler_RCPT overrides read session.envelope.mailFrom: false until MAIL FROM was accepted.
  assert.equal(connection.session.envelope.mailFrom, false, 'session.envelope.mailFrom is false before MAIL FROM');
  client.write('MAIL FROM:<a@client.test>\r\n');
  for (let i = 0; i < 200 && !release; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(release, 'onMailFrom was called');
  assert.equal(connection._handlerPending, true, 'set while onMailFrom has not answered (drains wait for it)');
  release();
  assert.equal((await client.read())?.code, 250);
  assert.equal(connection._handlerPending, false);
  assert.equal(typeof connection.session.envelope.mailFrom, 'object', 'session.envelope.mailFrom is set once MAIL FROM was accepted');
  assert.equal((await client.command('RSET')).code, 250);
  assert.equal(connection.session.envelope.mailFrom, false, 'and false again after RSET');
  assert.equal((await client.command('QUIT')).code, 221);
});

test('nodemailer: the members the seam wraps and reads exist with the expected shape, and the seam takes hold on a real session', async (t) => {
  assertMethods(MailerConnection.prototype as unknown as Proto, NODEMAILER_SEAM.connectionMethods, 'nodemailer SMTPConnection');
  const sink = await startSmtpSink({ starttls: false, dsn: true });
  t.after(() => sink.close());
  sink.rcptReply('refused@dest.test', '550 5.1.1 no such user');
  const conn = new MailerConnection({ host: sink.host, port: sink.port, ignoreTLS: true, logger: false });
  t.after(() => conn.close());
  assertFields(conn, NODEMAILER_SEAM.connectionFields, 'nodemailer SMTPConnection (new)');
  await new Promise<void>((resolve, reject) => conn.connect((error) => (error ? reject(error) : resolve())));
  assert.equal(typeof (conn as unknown as { _socket: unknown })._socket, 'object', '_socket is the socket once connected');
  assert.equal(coalesceBodyWrites(conn), true, 'the body-write coalescing took hold (no silent fallback)');
  const offered = serverExtensions(conn);
  assert.ok(offered?.includes('SMTPUTF8') && offered.includes('8BITMIME') && offered.includes('DSN'), `the EHLO keywords are read: ${String(offered)}`);
  let rewriting = true;
  assert.equal(
    rewriteCommands(conn, () => (rewriting ? (command) => (command.startsWith('RCPT TO:<ok@') ? `${command} NOTIFY=NEVER` : command) : undefined)),
    true,
    'the command rewrite took hold',
  );

  const info = await new Promise<{ accepted: string[] }>((resolve, reject) =>
    conn.send({ from: 'a@src.test', to: ['ok@dest.test', 'refused@dest.test'] }, Buffer.from('Subject: x\r\n\r\nbody\r\n'), (error, sent) =>
      error ? reject(error) : resolve(sent as { accepted: string[] }),
    ),
  );
  assert.deepEqual(info.accepted, ['ok@dest.test']);
  rewriting = false;
  await sink.waitFor(1);
  assert.ok(sink.commands.includes('RCPT TO:<ok@dest.test> NOTIFY=NEVER'), 'the rewritten command reached the server');
  assert.deepEqual(sink.messages[0]?.raw, Buffer.from('Subject: x\r\n\r\nbody\r\n'), 'the corked body arrives whole');
  const envelope = (conn as unknown as { _envelope: Record<string, unknown> })._envelope;
  assertFields(conn, NODEMAILER_SEAM.connectionFields, 'nodemailer SMTPConnection (after a send)');
  for (const [name, kind] of Object.entries(NODEMAILER_SEAM.envelopeFields)) {
    assert.ok(kind === 'array' && Array.isArray(envelope[name]), `_envelope.${name} is an array`);
  }
  const refusals = recipientRefusals(conn);
  assert.deepEqual(
    refusals?.map((r) => [r.recipient, r.response]),
    [['refused@dest.test', '550 5.1.1 no such user']],
    "recipientRefusals reads the RCPT refusals from nodemailer's envelope",
  );
});

test('pino: a logger from createLogger, and its children of children, tell the worker deliverer their destination (public onChild option)', () => {
  const destination = { write: () => undefined };
  const logger = createLogger('info', destination);
  assert.equal(destinationOf(logger), destination);
  assert.equal(destinationOf(logger.child({ component: 'delivery' }).child({ worker: 1 })), destination);
});

test("every seam file's library members are listed in its contract", () => {
  const smtp = membersNamed(SEAM_FILES['smtp-server']);
  assert.ok(smtp.accessed.has('_handlerPending') && smtp.overridden.has('_handleProxy'), 'the scan sees the seam');
  const listed = new Set<string>([
    ...Object.keys(SMTP_SERVER_SEAM.connectionMethods),
    ...Object.keys(SMTP_SERVER_SEAM.connectionFields),
    ...Object.keys(SMTP_SERVER_SEAM.serverMethods),
    ...Object.keys(SMTP_SERVER_SEAM.serverFields),
  ]);
  for (const name of smtp.accessed) assert.ok(listed.has(name), `${SEAM_FILES['smtp-server']} uses ${name}: add it to SMTP_SERVER_SEAM`);
  for (const name of smtp.overridden) {
    if (name in SMTPConnection.prototype || name in SMTPServer.prototype) {
      assert.ok(listed.has(name), `${SEAM_FILES['smtp-server']} overrides ${name}: add it to SMTP_SERVER_SEAM`);
    }
  }
  const mailer = membersNamed(SEAM_FILES.nodemailer);
  assert.ok(mailer.accessed.has('_createSendStream'), 'the scan sees the seam');
  const mailerListed = new Set<string>([...Object.keys(NODEMAILER_SEAM.connectionMethods), ...Object.keys(NODEMAILER_SEAM.connectionFields)]);
  for (const name of mailer.accessed) assert.ok(mailerListed.has(name), `${SEAM_FILES.nodemailer} uses ${name}: add it to NODEMAILER_SEAM`);
});

test('no file under src/ or bench/ but the seams reaches into smtp-server, nodemailer or pino internals', () => {
  const seams = new Set<string>(Object.values(SEAM_FILES));
  const problems: string[] = [];
  for (const file of srcFiles()) {
    if (seams.has(file)) continue;
    const source = fs.readFileSync(path.join(REPO, file), 'utf8');
    source.split('\n').forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, '');
      const where = `${file}:${i + 1}`;
      if (/\.(_[A-Za-z]\w*)/.test(code)) problems.push(`${where}: underscore member ${/\.(_[A-Za-z]\w*)/.exec(code)?.[1]}`);
      if (/\bhandler_[A-Z]+/.test(code)) problems.push(`${where}: smtp-server command handler`);
      if (/from '(smtp-server\/lib\/|nodemailer\/lib\/(?!smtp-connection'))/.test(code)) problems.push(`${where}: deep import of a library module`);
      if (/\bextends\s+(SMTPServer|SMTPConnection)\b/.test(code)) problems.push(`${where}: subclass of an smtp-server class`);
      if (/pino\.symbols|streamSym|Symbol\.for\('pino/.test(code)) problems.push(`${where}: pino internal symbol`);
    });
  }
  assert.deepEqual(problems, [], 'these belong in a seam (src/smtp/relay-smtp-server.ts, src/delivery/nodemailer-seam.ts) or in public API');
});
