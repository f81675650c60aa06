// A strict JSON reader for log lines (RFC 8259, plus what RFC 7493 I-JSON asks
// of a consumer that must not guess): one value, nothing after it, and no
// object with the same key twice. JSON.parse keeps the last of two equal keys
// silently (a reviver sees only the survivor); strict consumers refuse the line.

export class StrictJsonError extends Error {}

/** The value of `text`; throws a StrictJsonError saying where it is not strict JSON. */
export function parseStrictJson(text: string): unknown {
  let at = 0;
  const fail = (what: string): never => {
    throw new StrictJsonError(`${what} at ${at}: ${JSON.stringify(text.slice(Math.max(0, at - 30), at + 30))}`);
  };
  const space = () => {
    while (at < text.length && ' \t\n\r'.includes(text[at] as string)) at++;
  };
  const string = (): string => {
    const start = at;
    at++; // the opening quote
    while (at < text.length && text[at] !== '"') {
      const c = text.charCodeAt(at);
      if (c < 0x20) fail('control character in a string');
      if (text[at] === '\\') {
        at++;
        if (text[at] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(at + 1, at + 5))) fail('bad \\u escape');
          at += 4;
        } else if (!'"\\/bfnrt'.includes(text[at] ?? 'x')) fail('bad escape');
      }
      at++;
    }
    if (at >= text.length) fail('unterminated string');
    at++;
    return JSON.parse(text.slice(start, at)) as string;
  };
  const value = (depth: number): unknown => {
    if (depth > 100) fail('nested too deeply');
    space();
    const c = text[at];
    if (c === '{') {
      at++;
      const object: Record<string, unknown> = {};
      const keys = new Set<string>();
      space();
      if (text[at] === '}') {
        at++;
        return object;
      }
      for (;;) {
        space();
        if (text[at] !== '"') fail('expected a key');
        const keyAt = at;
        const key = string();
        if (keys.has(key)) {
          at = keyAt;
          fail(`duplicate key ${JSON.stringify(key)}`);
        }
        keys.add(key);
        space();
        if (text[at] !== ':') fail('expected :');
        at++;
        Object.defineProperty(object, key, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
        space();
        if (text[at] === ',') at++;
        else if (text[at] === '}') {
          at++;
          return object;
        }
        else fail('expected , or }');
      }
    }
    if (c === '[') {
      at++;
      const array: unknown[] = [];
      space();
      if (text[at] === ']') {
        at++;
        return array;
      }
      for (;;) {
        array.push(value(depth + 1));
        space();
        if (text[at] === ',') at++;
        else if (text[at] === ']') {
          at++;
          return array;
        }
        else fail('expected , or ]');
      }
    }
    if (c === '"') return string();
    const literal = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(at, at + 400));
    if (!literal) return fail('unexpected character');
    at += literal[0].length;
    return JSON.parse(literal[0]) as unknown;
  };
  const result = value(0);
  space();
  if (at !== text.length) fail('text after the value');
  return result;
}
