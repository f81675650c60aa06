// policies/users.toml: the SASL users. Pure parser, following the policy-file
// contract: parseUsersFile(file, text) returns a UserDirectory or every problem
// as file:line. One [[users]] table per user:
//   name     the SASL user name (matched case-insensitively)
//   hash     "$scrypt$ln=15,r=8,p=1$SALT$KEY" from `relayguard passwd`
//   senders  addresses / patterns the user may use in MAIL FROM (see
//            src/policy/sender-rule.ts)
//   quota    optional { messages_per_hour, messages_per_day,
//            recipients_per_hour, recipients_per_day } for the rate limits
import * as z from 'zod';
import type { FileProblem, ParseResult } from './errors.ts';
import { parseTomlWith } from './load-config.ts';
import { locateTomlPath } from './toml-locate.ts';
import { compileSenderPatterns, parseSenderPattern, type SenderMatcher, type SenderPattern } from './sender-patterns.ts';
import { DEFAULT_SCRYPT_PARAMS, formatParams, parseHashString, type ParsedHash, type ScryptParams } from './password-hash-format.ts';

export interface UserQuota {
  readonly messagesPerHour?: number;
  readonly messagesPerDay?: number;
  readonly recipientsPerHour?: number;
  readonly recipientsPerDay?: number;
}

export interface UserRecord {
  /** As written in users.toml. */
  readonly name: string;
  /** The hash string as written; `parsedHash` is the same, decoded once at load. */
  readonly hash: string;
  readonly parsedHash: ParsedHash;
  /** Addresses or patterns ("*@example.com") allowed in MAIL FROM, as written. */
  readonly senders: readonly string[];
  readonly senderMatcher: SenderMatcher;
  readonly quota?: UserQuota;
  /** Where the user is defined, for explain output and logs. */
  readonly file: string;
  readonly line: number;
}

export interface UserDirectory {
  readonly size: number;
  /** Case-insensitive lookup by SASL user name. */
  get(name: string): UserRecord | undefined;
  list(): readonly UserRecord[];
  /**
   * The cost most users' hashes carry: unknown user names are verified against
   * a dummy hash with this cost, so they take as long as a real user.
   */
  readonly typicalParams: ScryptParams;
}

/** The key users are looked up and counted by ("Alice" and "alice" are one user). */
export function normalizeUserName(name: string): string {
  return name.normalize('NFKC').toLowerCase();
}

const count = z.number().int().positive();
const quotaSchema = z
  .object({
    messages_per_hour: count.optional(),
    messages_per_day: count.optional(),
    recipients_per_hour: count.optional(),
    recipients_per_day: count.optional(),
  })
  .strict();

const userSchema = z
  .object({
    // smtp-server already refuses control characters in SASL user names.
    name: z
      .string()
      .min(1, 'name must not be empty')
      .max(256)
      .regex(/^[^\s\p{Cc}]+$/u, 'name must not contain spaces or control characters'),
    hash: z.string(),
    senders: z.array(z.string()).min(1, 'list at least one address or pattern the user may send as'),
    quota: quotaSchema.optional(),
  })
  .strict();

const fileSchema = z.object({ users: z.array(userSchema).default([]) }).strict();

export function parseUsersFile(file: string, text: string): ParseResult<UserDirectory> {
  const parsed = parseTomlWith(file, text, fileSchema);
  if (!parsed.ok) return parsed;
  const problems: FileProblem[] = [];
  const records: UserRecord[] = [];
  const seen = new Map<string, number>(); // normalized name -> line
  parsed.value.users.forEach((raw, index) => {
    const lineOf = (key: string): number => locateTomlPath(text, ['users', index, key]);
    const line = locateTomlPath(text, ['users', index]);
    const hash = parseHashString(raw.hash);
    if (!hash.ok) problems.push({ file, line: lineOf('hash'), message: `user "${raw.name}": ${hash.message}` });
    const patterns: SenderPattern[] = [];
    for (const sender of raw.senders) {
      const pattern = parseSenderPattern(sender);
      if (typeof pattern === 'string') problems.push({ file, line: lineOf('senders'), message: `user "${raw.name}": ${pattern}` });
      else patterns.push(pattern);
    }
    const key = normalizeUserName(raw.name);
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      problems.push({ file, line: lineOf('name'), message: `user "${raw.name}" is already defined at line ${earlier}` });
      return;
    }
    seen.set(key, line);
    if (!hash.ok) return;
    records.push({
      name: raw.name,
      hash: raw.hash,
      parsedHash: hash.hash,
      senders: raw.senders,
      senderMatcher: compileSenderPatterns(patterns),
      ...(raw.quota ? { quota: toQuota(raw.quota) } : {}),
      file,
      line,
    });
  });
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, value: createUserDirectory(records) };
}

function toQuota(raw: z.infer<typeof quotaSchema>): UserQuota {
  const quota: { -readonly [K in keyof UserQuota]: UserQuota[K] } = {};
  if (raw.messages_per_hour !== undefined) quota.messagesPerHour = raw.messages_per_hour;
  if (raw.messages_per_day !== undefined) quota.messagesPerDay = raw.messages_per_day;
  if (raw.recipients_per_hour !== undefined) quota.recipientsPerHour = raw.recipients_per_hour;
  if (raw.recipients_per_day !== undefined) quota.recipientsPerDay = raw.recipients_per_day;
  return quota;
}

/** A directory over already validated records (later records do not replace earlier ones). */
export function createUserDirectory(records: readonly UserRecord[]): UserDirectory {
  const byName = new Map<string, UserRecord>();
  for (const record of records) {
    const key = normalizeUserName(record.name);
    if (!byName.has(key)) byName.set(key, record);
  }
  const list = Object.freeze([...byName.values()]);
  return {
    size: byName.size,
    get: (name) => byName.get(normalizeUserName(name)),
    list: () => list,
    typicalParams: mostCommonParams(list),
  };
}

/** No users: every AUTH attempt fails (after the same work as a real one). */
export function emptyUserDirectory(): UserDirectory {
  return createUserDirectory([]);
}

function mostCommonParams(records: readonly UserRecord[]): ScryptParams {
  const tally = new Map<string, { params: ScryptParams; count: number }>();
  for (const record of records) {
    const key = formatParams(record.parsedHash.params);
    const entry = tally.get(key) ?? { params: record.parsedHash.params, count: 0 };
    entry.count++;
    tally.set(key, entry);
  }
  let best: { params: ScryptParams; count: number } | undefined;
  for (const entry of tally.values()) if (!best || entry.count > best.count) best = entry;
  return best?.params ?? DEFAULT_SCRYPT_PARAMS;
}
