// `--metrics [HOST:]PORT`: where the metrics endpoint listens. A bare port means 127.0.0.1; any other
// host must be written out (an IP address, or "localhost"), so the endpoint is never exposed beyond
// this machine by default or by accident (docs/metrics.md, "Exposure").
import { isIPv4, isIPv6 } from 'node:net';

export interface MetricsAddress {
  host: string;
  /** 0: the kernel picks a free port (the log line says which). */
  port: number;
  /** The host is a loopback address: only local processes can connect. */
  loopback: boolean;
}

/** Parses `text`, or throws an Error whose message is the one-line reason (the caller prefixes the flag). */
export function parseMetricsAddress(text: string): MetricsAddress {
  const bad = () => new Error(`"${text}" is not PORT or HOST:PORT (e.g. 9464, 127.0.0.1:9464, [::1]:9464)`);
  let host: string, portText: string;
  const v6 = /^\[([^\]]+)\]:([^:]*)$/.exec(text);
  if (/^\d+$/.test(text)) {
    host = '127.0.0.1';
    portText = text;
  } else if (v6) {
    host = v6[1]!;
    portText = v6[2]!;
    if (!isIPv6(host)) throw bad();
  } else {
    const i = text.lastIndexOf(':');
    if (i <= 0) throw bad();
    host = text.slice(0, i);
    portText = text.slice(i + 1);
    if (host === 'localhost') host = '127.0.0.1';
    else if (!isIPv4(host)) throw bad();
  }
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 0 && port <= 65535)) throw bad();
  const loopback = isIPv4(host) ? host.startsWith('127.') : host === '::1' || /^::ffff:127\./i.test(host);
  return { host, port, loopback };
}

/** How the address is written in a URL. */
export function formatHostPort(host: string, port: number): string {
  return `${isIPv6(host) ? `[${host}]` : host}:${port}`;
}
