// STUB owned by the authentication issue: policies/users.toml.
export interface UserRecord {
  readonly name: string;
  readonly hash: string;
  /** Addresses or patterns ("*@example.com") allowed in MAIL FROM. */
  readonly senders: readonly string[];
}

export interface UserDirectory {
  readonly size: number;
  get(name: string): UserRecord | undefined;
}
