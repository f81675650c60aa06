// PURE. Free text from policy files (denylist reasons) made safe to quote to a client.
/** Text from a policy file made safe for a reply line: printable, one line, bounded. */
export function replySafe(text: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f]+/g, ' ').trim().slice(0, max);
}
