// `relayguard serve [--config FILE]`: run listeners, queue runner and
// dashboard until SIGTERM/SIGINT; SIGHUP reloads the policy. A config error
// prints file:line problems and exits 1 without starting anything.
import { ConfigError, formatProblem } from '../config/errors.ts';
import { startRelay } from '../main.ts';
import { EXIT_OK, EXIT_USER_ERROR, type CliIo } from './io.ts';
import { parseCommandArgs, resolveConfigFile } from './args.ts';

export async function runServe(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs(argv, { config: { type: 'string', short: 'c' } });
  const configFile = resolveConfigFile(values.config);
  let relay;
  try {
    relay = await startRelay({ configFile });
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) io.stderr.write(`${formatProblem(problem)}\n`);
      return EXIT_USER_ERROR;
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      io.stderr.write(`cannot listen: ${(error as Error).message}\n`);
      return EXIT_USER_ERROR;
    }
    throw error;
  }
  const running = relay;
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      running.logger.info({ signal }, 'signal received');
      process.off('SIGHUP', reload);
      void running.stop().then(resolve);
    };
    const reload = () => running.store.handleSighup();
    process.on('SIGHUP', reload);
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return EXIT_OK;
}
