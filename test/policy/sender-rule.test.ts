import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkSender, type SenderOwner } from '../../src/policy/sender-rule.ts';
import { compileSenderPatterns, parseSenderPattern, type SenderPattern } from '../../src/config/sender-patterns.ts';

function owner(name: string, patterns: string[]): SenderOwner {
  const parsed = patterns.map((text) => {
    const pattern = parseSenderPattern(text);
    if (typeof pattern === 'string') throw new Error(pattern);
    return pattern as SenderPattern;
  });
  return { name, senderMatcher: compileSenderPatterns(parsed) };
}

test('sender patterns: authenticated user + MAIL FROM -> decision', () => {
  const rows: Array<[patterns: string[], mailFrom: string, verdict: 'dunno' | 'reject']> = [
    // exact address, case-insensitive (local part and domain)
    [['alice@example.com'], 'alice@example.com', 'dunno'],
    [['alice@example.com'], 'Alice@EXAMPLE.com', 'dunno'],
    [['Alice@Example.COM'], 'alice@example.com', 'dunno'],
    [['alice@example.com'], 'alice@example.com.', 'dunno'],
    [['alice@example.com'], 'bob@example.com', 'reject'],
    [['alice@example.com'], 'alice@example.org', 'reject'],
    [['alice@example.com'], 'alice+tag@example.com', 'reject'],
    [['alice@example.com'], 'alice@sub.example.com', 'reject'],
    [['alice@example.com'], 'alice@example.com@evil.test', 'reject'],
    [['alice@example.com'], '"alice@example.com"@evil.test', 'reject'],
    // any local part at one domain
    [['*@example.com'], 'anyone@example.com', 'dunno'],
    [['*@example.com'], 'anyone@EXAMPLE.COM', 'dunno'],
    [['*@example.com'], 'anyone@sub.example.com', 'reject'],
    [['*@example.com'], 'anyone@notexample.com', 'reject'],
    [['*@example.com'], 'anyone@example.com.evil.test', 'reject'],
    // subdomains
    [['*@*.example.com'], 'a@sub.example.com', 'dunno'],
    [['*@*.example.com'], 'a@deep.sub.example.com', 'dunno'],
    [['*@*.example.com'], 'a@example.com', 'reject'],
    [['*@*.example.com'], 'a@badexample.com', 'reject'],
    // several patterns: any one grants
    [['alice@example.com', '*@example.org'], 'bob@example.org', 'dunno'],
    [['alice@example.com', '*@example.org'], 'bob@example.com', 'reject'],
    // internationalised domains compare in punycode
    [['*@bücher.example'], 'a@xn--bcher-kva.example', 'dunno'],
    [['*@xn--bcher-kva.example'], 'a@BÜCHER.example', 'dunno'],
    // the null sender and bare local parts only with "*"
    [['alice@example.com'], '', 'reject'],
    [['*@example.com'], 'postmaster', 'reject'],
    [['*'], '', 'dunno'],
    // "<>" grants the null sender and nothing else
    [['<>'], '', 'dunno'],
    [['alice@example.com', '<>'], '', 'dunno'],
    [['<>'], 'alice@example.com', 'reject'],
    [['<>'], 'postmaster', 'reject'],
    [['*'], 'anyone@anywhere.test', 'dunno'],
  ];
  for (const [patterns, mailFrom, verdict] of rows) {
    const decision = checkSender(owner('alice', patterns), mailFrom);
    const label = `${JSON.stringify(patterns)} ${JSON.stringify(mailFrom)}`;
    assert.equal(decision.verdict, verdict, label);
    assert.equal(decision.stage, 'mail', label);
    if (verdict === 'reject') {
      assert.equal(decision.reason, 'mail.sender_not_owned', label);
      assert.equal(decision.reply?.code, 553, label);
      assert.equal(decision.reply?.enhanced, '5.7.1', label);
    }
  }
});

test('the rejection names the user, and an unauthenticated session is not judged', () => {
  const decision = checkSender(owner('alice', ['alice@example.com']), 'ceo@example.com');
  assert.equal(decision.reply?.text, 'Sender address rejected: not owned by user alice');
  assert.equal(decision.detail?.user, 'alice');
  assert.equal(checkSender(undefined, 'ceo@example.com').verdict, 'dunno');
});

test('invalid patterns are refused with a reason', () => {
  const rows: Array<[string, RegExp]> = [
    ['', /must be an address/],
    ['postmaster', /must be an address/],
    ['@example.com', /must be an address/],
    ['alice@', /must be an address/],
    ['a*@example.com', /may only stand for/],
    ['*@exa*mple.com', /may only stand for/],
    ['alice@*.example.com', /may only stand for/],
    ['*@*', /may only stand for/],
    ['*@exa mple.com', /not a domain name/],
    ['al ice@example.com', /white space/],
    ['*@example..com', /not a domain name/],
    ['*@xn--zz.example', /not a domain name/],
  ];
  for (const [text, message] of rows) {
    const result = parseSenderPattern(text);
    assert.equal(typeof result, 'string', text);
    assert.match(result as string, message, text);
  }
  for (const good of ['*', 'a@b.c', '*@example.com', '*@*.example.com', 'first.last@example.com', '*@localhost', '*@xn--bcher-kva.example']) {
    assert.equal(typeof parseSenderPattern(good), 'object', good);
  }
});
