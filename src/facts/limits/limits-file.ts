// STUB owned by the anti-abuse issue: policies/limits.toml.
export type LimitsPolicy = Readonly<Record<string, unknown>>;
