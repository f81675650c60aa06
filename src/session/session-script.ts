// Walks one imagined SMTP session (what `relayguard explain` is asked about)
// through the session driver, command by command as a client would send
// them: connect, EHLO, AUTH, MAIL, each RCPT. Each stage's report names the
// client command whose reply carries its Decision: HELO is judged at MAIL, so
// its report says `command: 'mail'`. A stage after a decision that ends the
// session or the transaction is reported as not reached, as it would be on the wire.
import type { Decision, Stage } from '../policy/decision.ts';
import type { MessageFacts } from '../policy/facts.ts';
import type { SessionRecord, SessionStages } from './session-record.ts';

export interface SessionScript {
  readonly helo?: string;
  /** Log in as this user (the driver's credential checker decides the outcome). */
  readonly user?: string;
  readonly from: string;
  readonly size?: number;
  readonly rcpt: readonly string[];
}

export type StageStatus = 'evaluated' | 'not_reached' | 'skipped';
export type ClientCommand = 'connect' | 'auth' | 'mail' | 'rcpt';

export interface StageReport {
  readonly stage: Stage;
  /** The client command this Decision answers (HELO is judged at MAIL). */
  readonly command: ClientCommand;
  /** What the client sent at this stage, as given. */
  readonly input: string;
  readonly status: StageStatus;
  readonly decision?: Decision;
  /** The normalised address for MAIL/RCPT when it was accepted. */
  readonly normalized?: string;
}

export interface SessionWalk {
  readonly stages: readonly StageReport[];
  /** Recipients accepted (normalised). */
  readonly accepted: readonly string[];
}

const passes = (d: Decision): boolean => d.verdict === 'permit' || d.verdict === 'dunno';

export async function walkScript(driver: SessionStages, session: SessionRecord, script: SessionScript): Promise<SessionWalk> {
  const stages: StageReport[] = [];
  const accepted: string[] = [];
  const trace: Decision[] = [];
  session.trace = trace;
  const unreached = (stage: Stage, command: ClientCommand, input: string): void => {
    stages.push({ stage, command, input, status: 'not_reached' });
  };
  const heloSkippedOrUnreached = (): void => {
    if (script.helo === undefined) stages.push({ stage: 'helo', command: 'mail', input: '', status: 'skipped' });
    else unreached('helo', 'mail', script.helo);
  };
  try {
    const connect = await driver.connect(session);
    stages.push({ stage: 'connect', command: 'connect', input: session.clientIp, status: 'evaluated', decision: connect });
    if (!passes(connect)) {
      if (script.user !== undefined) unreached('auth', 'auth', script.user);
      heloSkippedOrUnreached();
      unreached('mail', 'mail', script.from);
      for (const rcpt of script.rcpt) unreached('rcpt', 'rcpt', rcpt);
      return { stages, accepted };
    }
    if (script.helo !== undefined) {
      session.helo = script.helo;
      session.esmtp = true;
    }

    if (script.user !== undefined) {
      const auth = await driver.auth(session, { method: 'PLAIN', username: script.user, password: '' });
      stages.push({ stage: 'auth', command: 'auth', input: script.user, status: 'evaluated', decision: auth.decision });
      // A failed AUTH does not end the session: the client may go on unauthenticated.
      if (auth.decision.verdict === 'permit' && auth.user) session.user = auth.user;
    }

    const before = trace.length;
    const mail = await driver.mail(session, script.from, script.size === undefined ? {} : { SIZE: String(script.size) });
    const made = trace.slice(before);
    const helo = made.find((d) => d.stage === 'helo');
    if (helo && script.helo !== undefined) stages.push({ stage: 'helo', command: 'mail', input: script.helo, status: 'evaluated', decision: helo });
    else heloSkippedOrUnreached();
    if (mail.decision.stage === 'helo') {
      unreached('mail', 'mail', script.from);
      for (const rcpt of script.rcpt) unreached('rcpt', 'rcpt', rcpt);
      return { stages, accepted };
    }
    stages.push({
      stage: 'mail',
      command: 'mail',
      input: script.from,
      status: 'evaluated',
      decision: mail.decision,
      ...(mail.sender !== undefined ? { normalized: `<${mail.sender}>` } : {}),
    });
    if (!passes(mail.decision)) {
      for (const rcpt of script.rcpt) unreached('rcpt', 'rcpt', rcpt);
      return { stages, accepted };
    }
    session.sender = mail.sender ?? script.from;

    for (const text of script.rcpt) {
      const rcpt = await driver.rcpt(session, text);
      stages.push({
        stage: 'rcpt',
        command: 'rcpt',
        input: text,
        status: 'evaluated',
        decision: rcpt.decision,
        ...(rcpt.recipient !== undefined ? { normalized: `<${rcpt.recipient}>` } : {}),
      });
      if (passes(rcpt.decision) && rcpt.recipient !== undefined) {
        accepted.push(rcpt.recipient);
        session.recipients.push(rcpt.recipient);
      }
    }
    return { stages, accepted };
  } finally {
    driver.close(session);
  }
}

/**
 * One recorded driver call to walk again (`relayguard replay`, `explain
 * --replay`): what the client sent and the session state the stage saw.
 * The facts come from the driver's providers, as for any walk.
 */
export interface ReplayCall {
  readonly call: 'connect' | 'auth' | 'mail' | 'rcpt' | 'data' | 'eod';
  readonly input?: string;
  readonly mechanism?: string;
  readonly params?: Readonly<Record<string, string | true>>;
  readonly tls?: boolean;
  readonly helo?: string;
  readonly esmtp?: boolean;
  /** mail: the user authenticated before us (a Postfix's sasl_username), taken as given. */
  readonly user?: string;
  /** eod: what the front door measured. */
  readonly message?: MessageFacts;
}

/** What one call decided on the walk again; undefined when the walk no longer reaches it. */
export type ReplayedCall = readonly Decision[] | undefined;

/**
 * Walks recorded calls through the driver in order, as the front door would
 * have made them under this policy: after a refused connect nothing is
 * reached; RCPT needs an accepted MAIL, DATA an accepted RCPT, end of data an
 * accepted DATA (smtp-server answers 503 otherwise, without asking the driver).
 * `before(i)` runs before call i (the caller's fact provider follows along).
 */
export async function walkCalls(
  driver: SessionStages,
  session: SessionRecord,
  calls: readonly ReplayCall[],
  before: (index: number) => void = () => undefined,
): Promise<ReplayedCall[]> {
  const out: ReplayedCall[] = [];
  const trace: Decision[] = [];
  session.trace = trace;
  let connected = false;
  let mail = false;
  let data = false;
  try {
    for (let i = 0; i < calls.length; i++) {
      const call = calls[i] as ReplayCall;
      const mark = trace.length;
      before(i);
      let reached = true;
      switch (call.call) {
        case 'connect': {
          connected = passes(await driver.connect(session));
          break;
        }
        case 'auth': {
          if (!connected) { reached = false; break; }
          if (call.tls !== undefined) session.tls = call.tls;
          const auth = await driver.auth(session, { method: call.mechanism ?? 'PLAIN', username: call.input ?? '', password: '' });
          if (auth.decision.verdict === 'permit' && auth.user) session.user = auth.user;
          break;
        }
        case 'mail': {
          if (!connected) { reached = false; break; }
          if (call.tls !== undefined) session.tls = call.tls;
          if (call.helo !== undefined) session.helo = call.helo;
          if (call.esmtp !== undefined) session.esmtp = call.esmtp;
          if (call.user !== undefined) session.user = call.user;
          session.recipients = [];
          session.sender = undefined;
          data = false;
          const result = await driver.mail(session, call.input ?? '', call.params ?? {});
          mail = passes(result.decision);
          if (mail) session.sender = result.sender ?? call.input ?? '';
          break;
        }
        case 'rcpt': {
          if (!connected || !mail) { reached = false; break; }
          const result = await driver.rcpt(session, call.input ?? '');
          if (passes(result.decision) && result.recipient !== undefined && !session.recipients.includes(result.recipient)) session.recipients.push(result.recipient);
          break;
        }
        case 'data': {
          if (!connected || !mail || session.recipients.length === 0) { reached = false; break; }
          data = passes(await driver.data(session));
          break;
        }
        case 'eod': {
          if (!connected || !mail || !data || !call.message) { reached = false; break; }
          driver.endOfData(session, call.message);
          session.messages++;
          mail = false;
          data = false;
          session.sender = undefined;
          session.recipients = [];
          break;
        }
      }
      out.push(reached ? trace.slice(mark) : undefined);
    }
    return out;
  } finally {
    driver.close(session);
  }
}
