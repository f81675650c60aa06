// Builders for authentication tests: real users.toml text with real (cheap)
// scrypt hashes, parsed by the real parser.
import { hashPassword, type ScryptParams } from '../../src/auth/password-hash.ts';
import { parseUsersFile, type UserDirectory } from '../../src/config/users-file.ts';
import { configSchema, type Config } from '../../src/config/schema.ts';

/** The cheapest cost the parser accepts: ~1 ms per hash, so tests stay fast. */
export const FAST_PARAMS: ScryptParams = { ln: 10, r: 8, p: 1 };

export interface TestUser {
  readonly name: string;
  readonly password: string;
  readonly senders?: readonly string[];
  readonly params?: ScryptParams;
}

export async function usersToml(users: readonly TestUser[]): Promise<string> {
  const blocks: string[] = [];
  for (const user of users) {
    const hash = await hashPassword(user.password, user.params ?? FAST_PARAMS);
    const senders = user.senders ?? [user.name];
    blocks.push(
      `[[users]]\nname = ${JSON.stringify(user.name)}\nhash = ${JSON.stringify(hash)}\nsenders = ${JSON.stringify(senders)}\n`,
    );
  }
  return blocks.join('\n');
}

export async function userDirectory(users: readonly TestUser[]): Promise<UserDirectory> {
  const parsed = parseUsersFile('users.toml', await usersToml(users));
  if (!parsed.ok) throw new Error(parsed.problems.map((p) => p.message).join('; '));
  return parsed.value;
}

/** The [auth] table as config.toml would give it, with overrides in TOML units. */
export function authConfig(overrides: Record<string, unknown> = {}): Config['auth'] {
  const parsed = configSchema.shape.auth.parse(overrides);
  return parsed;
}
