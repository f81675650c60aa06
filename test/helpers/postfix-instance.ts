// A private Postfix for interop tests (Debian's postfix package, /usr/sbin):
// its own config_directory, queue_directory, data_directory and maillog_file
// under one temp directory, an smtpd on a free 127.0.0.1 port, nothing read
// from or written to /etc/postfix (meta_directory is ours too) and no system
// service needed. The master daemon runs in the foreground as our child
// (`master -c DIR -d`) and is stopped by its PID, so a test run can never
// leave a Postfix behind or stop someone else's.
//
// Who it runs as: root only. Postfix's master refuses any other user ("the
// master command is reserved for the superuser", logged to syslog only, exit
// 1 before main.cf is read; checked with strace, also with the directory
// authorized in alternate_config_directories), so mail_owner/setgid_group
// tricks cannot help; the postfix(1) command says the same. As root it uses
// the package's own mail_owner `postfix` and setgid_group `postdrop`, with the
// queue owned as post-install would leave it. Not root: postfixMissing() says
// why and the interop tests skip with that reason rather than fail or hang.
// No chroot, no local delivery: every message goes out through smtp to the
// next hop a test names (a sink), so default_privs never matters.
//
// Reusable (issue 21 will chain relayguard and Postfix both ways): main.cf
// settings on top of these defaults, `postconf()` + `reload()` to change them
// while it runs, `maillog()` to read what Postfix logged.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './wait-for.ts';

const run = promisify(execFile);

export const POSTFIX_MASTER = '/usr/lib/postfix/sbin/master';
export const POSTCONF = '/usr/sbin/postconf';

/** Why a private Postfix cannot run here (the interop tests skip with this reason), or undefined. */
export function postfixMissing(): string | undefined {
  if (!existsSync(POSTFIX_MASTER) || !existsSync(POSTCONF)) return `Debian's postfix is not installed (${POSTFIX_MASTER}); .ci/run installs it`;
  if (process.getuid?.() !== 0) return 'Postfix\'s master runs only as root ("the master command is reserved for the superuser"); run the interop tests as root (CI does)';
  return undefined;
}

export interface PostfixOptions {
  /** main.cf settings on top of the defaults below (restrictions, next hop, ...). */
  readonly main?: Readonly<Record<string, string>>;
  /** Extra master.cf lines. */
  readonly master?: readonly string[];
}

export interface PostfixInstance {
  readonly dir: string;
  readonly configDir: string;
  readonly queueDir: string;
  /** Where its smtpd listens (127.0.0.1). */
  readonly smtpPort: number;
  readonly pid: number;
  readonly user: string;
  /** The whole maillog_file so far. */
  maillog(): Promise<string>;
  /** Sets main.cf parameters (postconf -c DIR -e); `reload()` makes a running master pick them up. */
  postconf(settings: Readonly<Record<string, string>>): Promise<void>;
  /** SIGHUP to the master: daemons restart with the new main.cf. */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

interface Identity {
  readonly user: string;
  readonly group: string;
  readonly uid: number;
  readonly gid: number;
  readonly setgidGid: number;
}

/** The package's mail_owner and setgid_group (the master runs as root and drops to them). */
async function identity(): Promise<Identity> {
  const { stdout: uid } = await run('id', ['-u', 'postfix']);
  const { stdout: gid } = await run('id', ['-g', 'postfix']);
  const { stdout: postdrop } = await run('getent', ['group', 'postdrop']);
  return { user: 'postfix', group: 'postdrop', uid: Number(uid), gid: Number(gid), setgidGid: Number(postdrop.split(':')[2]) };
}

/** A free 127.0.0.1 port (bound and released; the master binds it right after). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const MASTER_CF = (port: number): string[] => [
  // service type  private unpriv chroot wakeup maxproc command
  `127.0.0.1:${port} inet n - n - - smtpd`,
  'pickup    unix  n       -       n       60      1       pickup',
  'cleanup   unix  n       -       n       -       0       cleanup',
  'qmgr      unix  n       -       n       300     1       qmgr',
  'rewrite   unix  -       -       n       -       -       trivial-rewrite',
  'bounce    unix  -       -       n       -       0       bounce',
  'defer     unix  -       -       n       -       0       bounce',
  'trace     unix  -       -       n       -       0       bounce',
  'verify    unix  -       -       n       -       1       verify',
  'flush     unix  n       -       n       1000?   0       flush',
  'proxymap  unix  -       -       n       -       -       proxymap',
  'smtp      unix  -       -       n       -       -       smtp',
  'relay     unix  -       -       n       -       -       smtp',
  'showq     unix  n       -       n       -       -       showq',
  'error     unix  -       -       n       -       -       error',
  'retry     unix  -       -       n       -       -       error',
  'discard   unix  -       -       n       -       -       discard',
  'anvil     unix  -       -       n       -       1       anvil',
  'scache    unix  -       -       n       -       1       scache',
  'postlog   unix-dgram n  -       n       -       1       postlogd',
];

/** Queue subdirectories as post-install creates them: [name, mode, setgid group?]. */
const QUEUE_DIRS: ReadonlyArray<readonly [string, number, boolean]> = [
  ['active', 0o700, false], ['bounce', 0o700, false], ['corrupt', 0o700, false], ['defer', 0o700, false],
  ['deferred', 0o700, false], ['flush', 0o700, false], ['hold', 0o700, false], ['incoming', 0o700, false],
  ['private', 0o700, false], ['saved', 0o700, false], ['trace', 0o700, false],
  ['maildrop', 0o730, true], ['public', 0o710, true],
];

export async function startPostfix(options: PostfixOptions = {}): Promise<PostfixInstance> {
  const missing = postfixMissing();
  if (missing) throw new Error(missing);
  const who = await identity();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-postfix-'));
  // mkdtemp makes it 0700; as root the postfix user must get through to its queue.
  await chmod(dir, 0o755);
  const configDir = path.join(dir, 'etc');
  const queueDir = path.join(dir, 'queue');
  const dataDir = path.join(dir, 'data');
  const maillog = path.join(dir, 'maillog');
  await mkdir(configDir, { mode: 0o755 });
  await mkdir(queueDir, { mode: 0o755 });
  await mkdir(dataDir, { mode: 0o700 });
  await chown(dataDir, who.uid, who.gid);
  for (const [name, mode, setgid] of QUEUE_DIRS) {
    const sub = path.join(queueDir, name);
    await mkdir(sub);
    await chown(sub, who.uid, setgid ? who.setgidGid : who.gid);
    await chmod(sub, mode);
  }
  await mkdir(path.join(queueDir, 'pid'), { mode: 0o755 });
  // postlogd (as mail_owner) appends to it.
  await writeFile(maillog, '');
  await chown(maillog, who.uid, who.gid);

  const smtpPort = await freePort();
  const main: Record<string, string> = {
    compatibility_level: '3.6',
    queue_directory: queueDir,
    data_directory: dataDir,
    meta_directory: configDir,
    command_directory: '/usr/sbin',
    daemon_directory: '/usr/lib/postfix/sbin',
    shlib_directory: '/usr/lib/postfix',
    mail_owner: who.user,
    setgid_group: who.group,
    maillog_file: maillog,
    // Postfix writes a maillog_file only under one of these (default /var, /dev/stdout); without it the master dies at start, saying so only to syslog.
    maillog_file_prefixes: dir,
    inet_interfaces: '127.0.0.1',
    inet_protocols: 'ipv4',
    myhostname: 'postfix.test',
    mydomain: 'postfix.test',
    myorigin: 'postfix.test',
    mydestination: '',
    mynetworks: '127.0.0.1/32',
    relay_domains: '',
    local_recipient_maps: '',
    alias_maps: '',
    alias_database: '',
    biff: 'no',
    append_dot_mydomain: 'no',
    smtpd_peername_lookup: 'no',
    smtp_dns_support_level: 'disabled',
    smtpd_tls_security_level: 'none',
    smtp_tls_security_level: 'none',
    // Tests want answers at once: no 1 s "sleep after reject", no tarpit.
    smtpd_error_sleep_time: '0',
    smtpd_soft_error_limit: '100',
    smtpd_hard_error_limit: '100',
    // Deliver now, retry soon (a test's sink may start late).
    queue_run_delay: '1s',
    minimal_backoff_time: '1s',
    maximal_backoff_time: '2s',
    ...options.main,
  };
  await writeFile(path.join(configDir, 'main.cf'), `${Object.entries(main).map(([key, value]) => `${key} = ${value}`).join('\n')}\n`);
  await writeFile(path.join(configDir, 'master.cf'), `${[...MASTER_CF(smtpPort), ...(options.master ?? [])].join('\n')}\n`);
  // An empty dynamicmaps.cf: only the built-in map types (inline:, static:) are used.
  await writeFile(path.join(configDir, 'dynamicmaps.cf'), '');

  const child: ChildProcess = spawn(POSTFIX_MASTER, ['-c', configDir, '-d'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MAIL_CONFIG: configDir },
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    resolve();
  }));
  const pid = child.pid;
  const cleanup = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM');
      await Promise.race([exit, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
      if (!exited) child.kill('SIGKILL');
      await exit;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    if (pid === undefined) throw new Error(`could not start ${POSTFIX_MASTER}`);
    // Up once its smtpd port answers with a 220 greeting.
    await waitFor(async () => {
      if (exited) throw new Error(`postfix master exited: ${output}\n${await readFile(maillog, 'utf8').catch(() => '')}`);
      return greets(smtpPort);
    }, 15_000, 'the private postfix smtpd to greet');
  } catch (error) {
    await cleanup();
    throw error;
  }

  return {
    dir,
    configDir,
    queueDir,
    smtpPort,
    pid,
    user: who.user,
    maillog: () => readFile(maillog, 'utf8'),
    async postconf(settings) {
      await run(POSTCONF, ['-c', configDir, '-e', ...Object.entries(settings).map(([key, value]) => `${key}=${value}`)]);
    },
    async reload() {
      child.kill('SIGHUP');
      await waitFor(() => greets(smtpPort), 10_000, 'postfix smtpd after reload');
    },
    stop: cleanup,
  };
}

/** Whether 127.0.0.1:port answers with a 220 greeting. */
function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      if (text.includes('\n')) {
        socket.write('QUIT\r\n');
        done(text.startsWith('220'));
      }
    });
    socket.on('error', () => done(false));
  });
}
