// The `relayguard` command: dispatches to one module per subcommand. Exit
// codes: 0 success, 1 a user error with a clear message, 2 usage.
// `--help` (or -h) after any command, and `relayguard help COMMAND`, print
// that command's help from help.ts without loading the command.
import { EXIT_OK, EXIT_USAGE, EXIT_USER_ERROR, processIo, type CliIo } from './io.ts';
import { UsageError } from './args.ts';
import { asksForHelp, commandHelp, isCommandName, type CommandName } from './help.ts';
import { packageVersion } from './version.ts';

type Command = (argv: string[], io: CliIo) => Promise<number>;

const COMMANDS: Record<CommandName, { summary: string; load: () => Promise<Command> }> = {
  serve: { summary: 'run the relay (listeners, queue runner, dashboard)', load: async () => (await import('./serve.ts')).runServe },
  check: { summary: 'validate config.toml and every policy file', load: async () => (await import('./check.ts')).runCheck },
  explain: { summary: 'show how the policy decides a session, stage by stage', load: async () => (await import('./explain-command.ts')).runExplainCommand },
  replay: { summary: 'replay the decision journal under candidate policy files: what would change', load: async () => (await import('./replay.ts')).runReplay },
  queue: { summary: 'list, show, retry, delete or bounce spooled messages (works while serve runs)', load: async () => (await import('./queue.ts')).runQueue },
  accounts: { summary: 'list, release or lock the suspect accounts of anomaly detection (asks the running serve)', load: async () => (await import('./accounts.ts')).runAccounts },
  passwd: { summary: 'hash a password for policies/users.toml', load: async () => (await import('./passwd.ts')).runPasswd },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(8)} ${summary}`);
  return `usage: relayguard <command> [options]\n\ncommands:\n${lines.join('\n')}\n\n` +
    'relayguard help COMMAND (or relayguard COMMAND --help) describes a command; relayguard --version prints the version.\n';
}

export async function runCli(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V') {
    io.stdout.write(`relayguard ${packageVersion()}\n`);
    return EXIT_OK;
  }
  if (name === 'help' && rest.length > 0) {
    const [topic, ...extra] = rest;
    if (topic === undefined || !isCommandName(topic) || extra.length > 0) {
      io.stderr.write(`relayguard help: ${extra.length > 0 ? 'one command at a time' : `no command "${topic}"`}\n${usage()}`);
      return EXIT_USAGE;
    }
    io.stdout.write(commandHelp(topic));
    return EXIT_OK;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usage());
    return name ? EXIT_OK : EXIT_USAGE;
  }
  if (!isCommandName(name)) {
    io.stderr.write(`relayguard: unknown command "${name}"\n${usage()}`);
    return EXIT_USAGE;
  }
  if (asksForHelp(rest)) {
    io.stdout.write(commandHelp(name));
    return EXIT_OK;
  }
  try {
    return await (await COMMANDS[name].load())(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`relayguard ${name}: ${error.message}\n`);
      return EXIT_USAGE;
    }
    io.stderr.write(`relayguard ${name}: ${(error as Error).message}\n`);
    return EXIT_USER_ERROR;
  }
}
