// PURE. "host:port" as written in config files and on command lines.
/** "host:port", "[v6]:port"; the host is kept as written. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export function parseHostPort(text: string, defaultPort?: number): HostPort | null {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  let host: string;
  let portText: string | undefined;
  if (bracketed) {
    host = bracketed[1] as string;
    portText = bracketed[2];
  } else {
    const colon = text.lastIndexOf(':');
    if (colon > 0 && text.indexOf(':') === colon) {
      host = text.slice(0, colon);
      portText = text.slice(colon + 1);
    } else {
      host = text;
    }
  }
  const port = portText === undefined ? defaultPort : Number(portText);
  if (!host || port === undefined || !Number.isInteger(port) || port < 0 || port > 65535) return null;
  return { host, port };
}
