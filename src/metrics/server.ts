// The metrics endpoint (--metrics): a read-only HTTP server on the control plane's event loop. It
// answers GET (and HEAD) /metrics and nothing else, and bounds what a client can make it hold: request
// headers (size and time), connections, idle sockets. A connection that sends garbage or nothing is
// closed on a timer; it cannot wedge the control plane, which serves the containers' life cycle.
// prom-client and the exposition are loaded with the first scrape (tens of ms), not at start.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { log } from '../log.js';
import { packageVersion } from '../package-root.js';
import { formatHostPort, type MetricsAddress } from './address.js';
import type { MetricsSources } from './sources.js';
import type { Exposition } from './exposition.js';

const MAX_HEADER_BYTES = 8192;
const HEADERS_TIMEOUT_MS = 5000;
const REQUEST_TIMEOUT_MS = 5000;
/** A socket with no traffic (e.g. a client that does not read its response) is destroyed after this. */
const IDLE_TIMEOUT_MS = 10_000;
const MAX_CONNECTIONS = 16;

export interface MetricsServerInfo {
  version: string;
  command: 'run' | 'agent';
}

/**
 * Serves the metrics of `sources` on `address`, and says where in the log (and, off loopback, that
 * anyone who can reach it reads container ids and policy names). Rejects with a one-line reason.
 */
export async function serveMetrics(address: MetricsAddress, sources: MetricsSources, command: 'run' | 'agent', retryMs = 0): Promise<MetricsServer> {
  const version = packageVersion();
  let server;
  try {
    server = await MetricsServer.start(address, sources, { version, command }, retryMs);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(`--metrics ${formatHostPort(address.host, address.port)}: cannot listen (${err.code ?? err.message})`);
  }
  if (address.loopback) log('info', `metrics on ${server.url}`);
  else log('warn', `metrics on ${server.url}, beyond loopback: whoever can reach it reads ${command === 'agent' ? 'container ids, ' : ''}policy names and syscall counts (docs/metrics.md)`);
  return server;
}

export class MetricsServer {
  private exposition: Promise<Exposition> | null = null;

  private constructor(private readonly server: Server, readonly url: string, private readonly sources: MetricsSources, private readonly info: MetricsServerInfo) {}

  /**
   * Listens on `address`; rejects with the errno (EADDRINUSE, EADDRNOTAVAIL, EACCES...) when it cannot.
   * `retryMs`: keep retrying an address in use for that long (a successor agent whose predecessor is
   * still closing the port).
   */
  static async start(address: MetricsAddress, sources: MetricsSources, info: MetricsServerInfo, retryMs = 0): Promise<MetricsServer> {
    const deadline = Date.now() + retryMs;
    for (;;) {
      try {
        return await MetricsServer.listen(address, sources, info);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || Date.now() >= deadline) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private static listen(address: MetricsAddress, sources: MetricsSources, info: MetricsServerInfo): Promise<MetricsServer> {
    const server = createServer({
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      keepAliveTimeout: IDLE_TIMEOUT_MS / 2,
      // How often Node checks the two timeouts above (default 30 s).
      connectionsCheckingInterval: 1000,
    });
    server.maxConnections = MAX_CONNECTIONS;
    server.setTimeout(IDLE_TIMEOUT_MS, (socket) => socket.destroy());
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: address.host, port: address.port, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', (e) => log('error', `metrics endpoint: ${e.message}`));
        const bound = server.address();
        const port = typeof bound === 'object' && bound ? bound.port : address.port;
        const self = new MetricsServer(server, `http://${formatHostPort(address.host, port)}/metrics`, sources, info);
        server.on('request', (req, res) => self.handle(req, res));
        // Never what keeps the process alive: the workload or the agent's containers do.
        server.unref();
        resolve(self);
      });
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    res.setHeader('Connection', 'close');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') return this.refuse(res, 404, 'not found: the only resource is /metrics');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return this.refuse(res, 405, 'read-only: GET /metrics');
    }
    // A body is never read: a request that announces one is refused rather than drained.
    if (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0) {
      return this.refuse(res, 413, 'a GET /metrics has no body');
    }
    this.exposition ??= import('./exposition.js').then(({ Exposition }) => new Exposition(this.sources, this.info));
    this.exposition
      .then((e) => e.render(req.headers.accept))
      .then(({ contentType, body }) => {
        res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
      }, (e: Error) => {
        log('error', `metrics endpoint: ${e.message}`);
        this.refuse(res, 500, 'cannot collect the metrics');
      });
  }

  private refuse(res: ServerResponse, status: number, text: string): void {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(`${text}\n`);
  }

  /** Stops listening and drops every open connection. */
  close(): void {
    this.server.close();
    this.server.closeAllConnections();
  }
}
