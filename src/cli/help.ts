// The help of every command, in one place: `relayguard help COMMAND`,
// `relayguard COMMAND --help` (answered by main.ts before the command is even
// loaded, so a command's own option parser never sees --help) and the
// commands' own usage lines. Written to stand in for a man page: what it does,
// every option, files, environment, exit status.

import { restartOnlyKeys } from '../config/reload-keys.ts';

/** The keys of RELOAD_KEYS a reload cannot apply, wrapped and indented for help text. */
function restartOnlyList(indent = '  ', width = 78): string {
  const lines: string[] = [];
  let line = indent;
  for (const key of restartOnlyKeys()) {
    const piece = line === indent ? key : ` ${key}`;
    if (line.length + piece.length > width && line !== indent) {
      lines.push(line);
      line = indent + key;
    } else line += piece;
  }
  if (line !== indent) lines.push(line);
  return lines.join('\n');
}

export const EXIT_STATUS = `exit status:
  0  success
  1  a user error (bad file, unknown queue ID, ...), with a message on stderr
  2  usage: an unknown option or a missing argument`;

const CONFIG_OPTION = `  -c, --config FILE  config.toml to use (default: ./config.toml). Relative
                     paths inside it are resolved from its own directory.`;

export const COMMAND_HELP = {
  serve: `usage: relayguard serve [--config FILE]

Runs the relay: the SMTP listeners of config.toml, the queue runner that
delivers what was accepted (in a worker thread), and the dashboard/metrics
HTTP server when [http] is configured. Logs go to stdout: one readable line
per event on a terminal, JSON lines otherwise (log_format in config.toml:
auto, json or pretty); the level is log_level (a reload applies it).

options:
${CONFIG_OPTION}
  -h, --help         this text

signals:
  SIGHUP             reload config.toml and the policy files (a change to any
                     of them is also picked up by itself); an invalid edit is
                     refused, logged with file:line, and the running policy kept;
                     a changed key that only a restart applies is logged by name
                     (the list: relayguard help check)
  SIGTERM, SIGINT    stop accepting, let transactions in flight finish (within
                     smtp.shutdown_grace), tell idle clients 421, wait for
                     delivery attempts, exit 0

as root:
  With [service] user (and group) in config.toml, serve reads its files as
  that user, binds the ports as root, then runs as that user for good before
  accepting a connection. As a systemd service, contrib/relayguard.service
  runs it as User=relayguard with CAP_NET_BIND_SERVICE instead (README
  "Installing as a service").

files:
  config.toml        infrastructure: listeners, TLS, limits, delivery, data_dir,
                     policies_dir (config.example.toml documents every key)
  policies_dir/      who may do what: relay-networks, allowlist, denylist,
                     local-domains, recipients, users.toml, dnsbl.toml, limits.toml,
                     checks.toml
  data_dir/spool/    the queue (see relayguard queue)

environment:
  RELAYGUARD_RUN     auto (default): the production build in dist/ when it is
                     a build of these sources, else the sources; dist: dist/ or
                     exit 1; sources: always the sources

${EXIT_STATUS}
  A config error prints every problem as file:line: problem and exits 1
  without starting anything; so does a port that cannot be bound.`,

  check: `usage: relayguard check [--config FILE]

Validates config.toml and every policy file exactly as a reload would, without
starting anything. Prints a one-line summary (what each file holds), or every
problem as file:line: problem. With [reload] guard on (the default) and a
decision journal in data_dir, the files are also replayed against the
journal's recent sessions, as the reload guard does: an edit that would newly
let unauthenticated, untrusted clients relay is refused, with examples.

A reload applies every key of config.toml except these, which are read once
at start: a reload that changes one logs and reports it by name
("listeners[0].address changed: needs a restart"), and it takes effect at the
next restart ([] is any index):
${restartOnlyList()}

options:
${CONFIG_OPTION}
  -h, --help         this text

${EXIT_STATUS}
  1 here means: a reload with these files would be refused.`,

  explain: `usage: relayguard explain --ip IP [--helo NAME] [--user USER] [--listener NAME]
                         --from ADDR --rcpt ADDR [--rcpt ADDR...] [--size BYTES] [--probe-recipients]
                         [--json] [--config FILE]
       relayguard explain --replay ID [--policies DIR] [--json] [--config FILE]

Walks an imagined SMTP session through the real policy (the one serve would
run with these files, DNSBL and sender-domain lookups included) and prints each
stage's decision with the rule and the reason that made it. Nothing is sent
and no password is asked for: a --user that exists in users.toml is assumed
to have logged in, an unknown one to have failed.

options:
  --ip IP            the client's address (required)
  --helo NAME        what the client says in EHLO
  --user USER        the client authenticated as USER
  --listener NAME    the listener it connected to (default: the first
                     submission listener with --user, else the first mx one)
  --from ADDR        MAIL FROM (required)
  --rcpt ADDR        RCPT TO (required; repeat for more recipients)
  --size BYTES       the SIZE the client declares
  --probe-recipients with [recipient_verification] on, really ask the next hop
                     about each recipient it would verify (MAIL FROM:<>, RCPT,
                     RSET; never DATA); without it a note names them
  --json             the walk as JSON instead of a table
  --replay ID        instead of an imagined session, walk the recorded session
                     ID of the decision journal (its id is smtp-server's, in
                     the log's "session" field) again, with its recorded facts
                     only, and print each command's decision then and now;
                     exit 1 when one differs
  --policies DIR     with --replay: under the policy files in DIR instead of
                     config.toml's policies_dir
${CONFIG_OPTION}
  -h, --help         this text

${EXIT_STATUS}`,

  replay: `usage: relayguard replay --policies DIR [--config FILE] [--since 24h | --from T --to T] [--jobs N] [--json]

Re-runs the sessions recorded in the decision journal (data_dir/journal, see
[journal] in config.toml) through the same session driver serve runs, under
the policy files in DIR, with the recorded facts only: no DNS query is sent,
counters are the recorded values. A DNSBL zone, rate window or check the
journal holds no answer for is reported as unknown, never guessed. Prints
what would be decided differently: newly refused, newly accepted, refused
otherwise, grouped by stage, rule and reason with a few examples each, and,
loudly and separately, every recipient an unauthenticated client would newly
be allowed to relay to.

options:
  --policies DIR     the candidate policy directory (required)
  --since DURATION   only sessions of the last DURATION (24h, 7d)
  --from T, --to T   only sessions between two times (ISO 8601 or epoch)
  -j, --jobs N       replay the journal's segments on N worker threads
                     (default: one per CPU; 0: in the main thread); the
                     report is the same whatever N is
  --json             the report as one JSON object
${CONFIG_OPTION}
  -h, --help         this text

exit status:
  0  success: no change
  1  some commands would be decided differently
  2  usage, or the candidate policy does not load (its problems on stderr)
  3  a relay opening: an unauthenticated client newly allowed to relay`,

  queue: `usage: relayguard queue list [--held|--quarantined]|show ID|retry [ID]|delete ID|bounce ID|hold SELECTION [--reason TEXT]|release SELECTION [--config FILE] [--json]

Inspects and steers the spool in data_dir/spool. Reading works on the files
directly, also while serve runs; a change is handed to the running serve (it
owns the spool), or made on disk by this command when no serve runs.

subcommands:
  list               every message: ID, size, arrival, sender, attempts, and
                     each recipient's state, oldest first
  show ID            one message: envelope, recipients, delivery history and
                     its headers
  retry [ID]         make ID (or every message) due now
  delete ID          remove ID without telling anyone
  bounce ID          remove ID and send its sender a bounce (not to <>)
  hold SELECTION     keep the selected messages (accepted, never delivered)
                     until released; after [delivery] hold_lifetime they are
                     bounced to our own user or deleted ([delivery] hold_expiry)
  release SELECTION  deliver held messages again (due at once)
  SELECTION is one of: ID, --user USER (the authenticated user), --sender
  ADDRESS (the envelope sender; '<>' for the null sender)

options:
  --json             list: one JSON object per line; show: one JSON object
  --held             list: only held messages
  --quarantined      list: the corrupt spool entries kept in data_dir/quarantine
                     (name, size, when, why, files); nothing there is deleted
  --reason TEXT      hold: why (shown by list and show, logged, in the bounce)
${CONFIG_OPTION}
  -h, --help         this text

${EXIT_STATUS}`,

  accounts: `usage: relayguard accounts list [--json] | release USER [--release-held] | lock USER [--config FILE]

Shows and steers the suspect accounts of account anomaly detection ([accounts]
in config.toml; README "Account anomaly detection"). Every request goes to
the running serve (through data_dir/spool/control, as queue changes do): the
detector's memory is what counts while it runs.

subcommands:
  list               each suspect, newest first: user, state (locked, held or
                     logged), since when, the messages held for the episode,
                     and each trigger that fired with its action, time, reason
                     and evidence
  release USER       end USER's episode: lift the hold or lock; USER's later
                     messages are judged against its baseline again. The
                     messages held for the episode stay held (relayguard queue
                     release|delete --user USER), and nothing of the episode
                     is learnt into the baseline
  lock USER          refuse USER's AUTH with 535 5.7.8 (the wrong-password
                     reply) until released; a session already logged in has
                     its messages held

options:
  --json             list: one JSON object per suspect per line
  --release-held     release: also release the episode's held messages to
                     delivery (it was a false positive: the episode's busiest
                     hour becomes part of USER's baseline)
${CONFIG_OPTION}
  -h, --help         this text

without a running serve:
  list reads data_dir/accounts.json ([accounts] state_file) read-only.
  release and lock refuse (exit 1, nothing changed): the state file is
  serve's, a change written beside it could be lost to a serve starting at
  that moment, and held messages are released by serve's queue runner.
  Start serve (a lock kept in the file is in force from its first
  connection) and run the command again.

The change is logged by serve with who asked: "cli:" and $SUDO_USER (or
$USER).

${EXIT_STATUS}
  1 here also means: USER is not a suspect (release), no serve is running
  (release, lock), or detection is off in the running serve.`,

  passwd: `usage: relayguard passwd [USER] [--sender PATTERN]... [--params ln=15,r=8,p=1] [--min-length N]
  Reads a password (twice, without echo, on a terminal; one line from a pipe)
  and prints a users.toml block for USER, or just the hash line without USER.
  --sender      an address or pattern USER may use in MAIL FROM (repeatable;
                default: USER itself when it is an address)
  --params      scrypt cost written into the hash (default ln=15,r=8,p=1)
  --min-length  the fewest characters a password may have (default 12)
  -h, --help    this text

  From a pipe the first line is the password, exactly as written (only the
  line ending removed):  printf '%s\\n' "$PW" | relayguard passwd alice@example.com
  Prompts and messages go to stderr; stdout is only what to paste.

${EXIT_STATUS}`,
} as const;

export type CommandName = keyof typeof COMMAND_HELP;

export function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(COMMAND_HELP, name);
}

/** The help of `name`, ending in a newline. */
export function commandHelp(name: CommandName): string {
  return `${COMMAND_HELP[name]}\n`;
}

/** The first line of a command's help: what a usage error prints. */
export function usageLine(name: CommandName): string {
  return COMMAND_HELP[name].split('\n')[0] as string;
}

/** A command's whole usage block (its help text up to the first empty line), for usage errors. */
export function usageBlock(name: CommandName): string {
  return COMMAND_HELP[name].split('\n\n')[0] as string;
}

/** `--help` or `-h` among a command's arguments (before a lone `--`). */
export function asksForHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}
