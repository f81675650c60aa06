// The one reply table (src/policy/replies.ts): what each reason is answered
// with on the wire. A change here is a change clients see.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REASONS } from '../../src/policy/decision.ts';
import { replyFor, replyTable } from '../../src/policy/replies.ts';

test('every key of the reply table names a reason code; codes match their enhanced class', () => {
  for (const { key, code, enhanced } of replyTable()) {
    const reason = key.split(':')[0] as string;
    assert.ok((REASONS as readonly string[]).includes(reason), `${key}: not a reason code`);
    assert.equal(enhanced[0], String(code)[0], `${key}: ${code} ${enhanced}`);
  }
});

test('the replies clients hear', () => {
  const rows: ReadonlyArray<readonly [string, string]> = [
    [`${JSON.stringify(replyFor('relay.denied', 'victim@foreign.test'))}`, '{"code":554,"enhanced":"5.7.1","text":"<victim@foreign.test>: Relay access denied"}'],
    [`${JSON.stringify(replyFor('auth.tls_required'))}`, '{"code":538,"enhanced":"5.7.11","text":"Encryption required for requested authentication mechanism"}'],
    [`${JSON.stringify(replyFor('auth.locked'))}`, '{"code":454,"enhanced":"4.7.0","text":"Too many failed authentication attempts, try again later"}'],
    [`${JSON.stringify(replyFor('internal.error:auth'))}`, '{"code":454,"enhanced":"4.7.0","text":"Temporary authentication failure"}'],
    [`${JSON.stringify(replyFor('internal.error'))}`, '{"code":451,"enhanced":"4.3.0","text":"Local error in processing, try again later"}'],
    [`${JSON.stringify(replyFor('data.size_exceeded'))}`, '{"code":552,"enhanced":"5.3.4","text":"Message size exceeds fixed maximum message size"}'],
    [`${JSON.stringify(replyFor('data.bare_line_ending'))}`, '{"code":550,"enhanced":"5.6.0","text":"Message contains bare CR or LF line endings (see RFC 5321 2.3.8)"}'],
    [`${JSON.stringify(replyFor('denylist.listed', ''))}`, '{"code":554,"enhanced":"5.7.1","text":"Access denied"}'],
  ];
  for (const [actual, expected] of rows) assert.equal(actual, expected);
});
