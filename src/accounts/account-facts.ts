// The accounts fact provider: how account anomaly detection sits in the one
// session driver. At AUTH it says whether the name being logged in is locked
// (the account-lock rule refuses it); a login the AUTH list permitted is
// counted (its client network); at DATA the message about to be taken is
// counted and judged, and the fact says whether it is to be stored held
// (the driver marks the session; the front door's intake writes the hold).
// Only authenticated sessions are watched.
import { NO_STAGE_FACTS, type FactsProvider } from '../facts/session-facts.ts';
import type { AccountFacts } from '../policy/facts.ts';
import type { SessionContext } from '../policy/context.ts';
import type { AccountMonitor } from './account-monitor.ts';

function attemptUser(ctx: SessionContext): string | undefined {
  const attempt = (ctx as { attempt?: { user?: unknown } }).attempt;
  return typeof attempt?.user === 'string' ? attempt.user : undefined;
}

export function accountFactsProvider(monitor: AccountMonitor, enabled: () => boolean): FactsProvider {
  return {
    name: 'accounts',
    open() {
      return {
        // Not async: most stages of most sessions (every unauthenticated one)
        // have nothing to say, and answer with one shared value: no promise
        // per stage at all.
        gather(stage, ctx) {
          if (stage === 'auth') {
            const user = enabled() ? attemptUser(ctx) : undefined;
            return user === undefined ? NO_STAGE_FACTS : { account: { locked: monitor.isLocked(user) } };
          }
          if (stage !== 'data' || ctx.user === undefined || !enabled()) return NO_STAGE_FACTS;
          const sender = ctx.sender?.kind === 'mailbox' ? ctx.sender.address : '';
          const hold = monitor.message(ctx.user, sender, ctx.recipients.map((r) => r.address), ctx.clientIp);
          const account: AccountFacts = { locked: monitor.isLocked(ctx.user), ...(hold ? { hold } : {}) };
          return { account };
        },
        decided(stage, ctx, decision) {
          if (stage !== 'auth' || !enabled()) return;
          const user = attemptUser(ctx);
          if (user === undefined) return;
          if (decision.verdict === 'permit') monitor.login(user, ctx.clientIp);
          else if (decision.reason === 'auth.account_locked') monitor.lockedLogin();
        },
        close() {},
      };
    },
  };
}
