// Delivery attempts in the calling thread: deliver-job.ts with its MX
// resolver, connection cache and TLS memory. Also what runs inside the
// delivery worker thread (delivery-worker.ts).
import { createReadStream } from 'node:fs';
import type { Logger } from '../log/logger.ts';
import { ConnectionCache } from './connection-cache.ts';
import { deliverJob, type JobReport } from './deliver-job.ts';
import type { Deliverer, DelivererConfig, DeliveryRequest, ReuseOptions } from './deliverer.ts';
import type { OwnAddresses } from './loop-guard.ts';
import { createMxResolver, type MxDns } from './mx-resolver.ts';
import { createDnsResolver } from '../config/dns.ts';
import type { SmtpSession } from './smtp-session.ts';
import { TlsMemory } from './tls-memory.ts';
import { TlsTrust } from './tls-trust.ts';

export interface InProcessDelivererOptions {
  readonly config: DelivererConfig;
  readonly logger: Logger;
  readonly now?: () => number;
  /** DNS for MX lookups; default: a node:dns Resolver on config [dns]. */
  readonly resolver?: MxDns;
  readonly ownAddresses?: OwnAddresses;
  readonly random?: () => number;
  readonly reuse?: ReuseOptions;
}

/** The one line per delivery attempt (queue-runner.ts writes it itself only when an attempt crashed). */
export function logAttempt(logger: Logger, request: Pick<DeliveryRequest, 'queueId' | 'destination'>, report: JobReport, durationMs: number): void {
  logger.info(
    {
      queueId: request.queueId,
      destination: request.destination.key,
      host: report.tried[report.tried.length - 1],
      tried: report.tried,
      durationMs,
      results: report.results.map((r) => ({ rcpt: r.recipient, status: r.status, reply: r.reply })),
    },
    'delivery attempt',
  );
}

export function createInProcessDeliverer(options: InProcessDelivererOptions): Deliverer {
  const { logger } = options;
  const now = options.now ?? Date.now;
  const ownAddresses = options.ownAddresses ?? (() => []);
  let config = options.config;
  let dns = options.resolver ?? createDnsResolver(config.dns);
  const makeResolver = () =>
    createMxResolver({ dns, logger, port: config.delivery.mx_port, ownAddresses, ...(options.random ? { random: options.random } : {}) });
  let resolveMx = makeResolver();
  let tlsMemory = new TlsMemory(config.delivery.tls_failure_memory, now);
  let trust = new TlsTrust();
  const cache = new ConnectionCache({
    idleMs: options.reuse?.idleMs ?? 5_000,
    maxMessages: options.reuse?.maxMessages ?? 1_000,
    maxAgeMs: 300_000,
    maxIdlePerKey: config.delivery.per_destination_concurrency,
  });
  const active = new Set<SmtpSession>();

  return {
    deliver(request) {
      const { body } = request;
      const began = now();
      // The attempt's log line is written here, where the attempt ran: in the
      // delivery worker that keeps its serialisation off the front door's thread.
      const logged = (report: JobReport): JobReport => {
        logAttempt(logger, request, report, now() - began);
        return report;
      };
      return deliverJob(
        {
          queueId: request.queueId,
          sender: request.sender,
          recipients: request.recipients,
          destination: request.destination,
          size: request.size,
          ...(request.esmtp ? { esmtp: request.esmtp } : {}),
          ...(request.dsn ? { dsn: request.dsn } : {}),
          body: () => (Buffer.isBuffer(body) ? body : createReadStream(body.file, { start: body.start, end: body.end })),
        },
        {
          settings: { heloName: config.hostname, connectTimeout: config.delivery.connect_timeout, commandTimeout: config.delivery.command_timeout },
          mxPort: config.delivery.mx_port,
          resolveMx,
          cache,
          tlsMemory,
          tls: { level: config.delivery.tls, caFile: config.delivery.tls_ca_file },
          trust,
          logger,
          active,
        },
      ).then(logged);
    },
    updateConfig(next) {
      config = next;
      tlsMemory = new TlsMemory(next.delivery.tls_failure_memory, now);
      trust = new TlsTrust();
      if (!options.resolver) dns = createDnsResolver(next.dns);
      resolveMx = makeResolver();
    },
    idleConnections: () => cache.size,
    cutActive() {
      for (const session of active) session.close();
    },
    async close() {
      cache.closeAll();
    },
  };
}
