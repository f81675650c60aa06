// punycode.js (the npm package, RFC 3492) ships no types; only what we use.
declare module 'punycode/punycode.js' {
  const punycode: {
    /** Punycode (no "xn--") to Unicode; throws a RangeError on invalid input. */
    decode(input: string): string;
    /** Unicode to Punycode (no "xn--"). */
    encode(input: string): string;
  };
  export default punycode;
}
