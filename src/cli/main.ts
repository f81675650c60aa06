// The `relayguard` command: dispatches to one module per subcommand. Exit
// codes: 0 success, 1 a user error with a clear message, 2 usage.
import { EXIT_USAGE, EXIT_USER_ERROR, processIo, type CliIo } from './io.ts';
import { UsageError } from './args.ts';

type Command = (argv: string[], io: CliIo) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  serve: { summary: 'run the relay (listeners, queue runner, dashboard)', load: async () => (await import('./serve.ts')).runServe },
  check: { summary: 'validate config.toml and every policy file', load: async () => (await import('./check.ts')).runCheck },
  explain: { summary: 'show how the policy decides a session, stage by stage', load: async () => (await import('./explain-command.ts')).runExplainCommand },
  queue: { summary: 'list, show, retry, delete or bounce spooled messages (works while serve runs)', load: async () => (await import('./queue.ts')).runQueue },
  passwd: { summary: 'hash a password for policies/users.toml', load: async () => (await import('./passwd.ts')).runPasswd },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(8)} ${summary}`);
  return `usage: relayguard <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nEach command takes --help.\n`;
}

export async function runCli(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usage());
    return name ? 0 : EXIT_USAGE;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr.write(`relayguard: unknown command "${name}"\n${usage()}`);
    return EXIT_USAGE;
  }
  try {
    return await (await command.load())(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`relayguard ${name}: ${error.message}\n`);
      return EXIT_USAGE;
    }
    io.stderr.write(`relayguard ${name}: ${(error as Error).message}\n`);
    return EXIT_USER_ERROR;
  }
}
