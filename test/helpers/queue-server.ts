// A serve-like child process for queue command tests: opens the spool of the
// config given as argv[2], runs the queue runner, prints "ready <pid>" and
// exits 0 on SIGTERM after stopping. Lets the CLI in the test process talk to
// a server that is really another process, as in production.
import { loadConfig } from '../../src/config/load-config.ts';
import { openSpool, spoolDirOf } from '../../src/spool/spool.ts';
import { startQueueRunner } from '../../src/delivery/queue-runner.ts';
import { silentLogger } from '../../src/log/logger.ts';

const config = await loadConfig(process.argv[2] as string);
const logger = silentLogger();
const spool = await openSpool({ dir: spoolDirOf(config), logger });
const runner = startQueueRunner({ spool, config, logger });
process.on('SIGTERM', () => {
  void runner
    .stop(2000)
    .then(() => spool.close())
    .then(() => process.exit(0));
});
process.stdout.write(`ready ${process.pid}\n`);
