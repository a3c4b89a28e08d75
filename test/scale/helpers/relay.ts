// A TCP relay: an outage of a shared service (stopped, partitioned, slow) without touching the service itself.
import { createServer, type Server as NetServer, connect as netConnect, type Socket } from 'node:net';

function noop(): void {}

/**
 * 'up' forwards bytes; 'down' is a stopped service (listener closed, connections reset: connection refused);
 * 'blackhole' is a network partition (connections accepted or kept open, nothing ever answered).
 */
export type RelayMode = 'up' | 'down' | 'blackhole';

/** A TCP relay in front of a real service; the server under test connects to `port` instead of the service. */
export interface Relay {
  readonly port: number;
  readonly mode: RelayMode;
  /** Stops the "service": closes the listener and destroys every connection through the relay. */
  stop(): Promise<void>;
  /** Delays every chunk by `ms` in each direction from now on (0: none), a slow link. */
  setLatency(ms: number): void;
  /** Partitions the network: new connections hang unanswered and open ones stop carrying bytes. */
  blackhole(): Promise<void>;
  /** The "service" returns: frozen connections are dropped and the relay listens again on the same port. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Copies bytes from `from` to `to` while the link is up, each chunk delayed by the link's latency. Not pipe(): bytes
 * must stop flowing the moment the relay is blackholed, and may be delayed.
 */
function forward(from: Socket, to: Socket, link: { mode(): RelayMode; latencyMs(): number }): void {
  // Delayed chunks wait in order in one queue, so a later chunk never overtakes an earlier one.
  const queue: { at: number; chunk: Buffer }[] = [];
  let timer: NodeJS.Timeout | undefined;
  const write = (chunk: Buffer) => {
    if (link.mode() === 'up' && !to.destroyed) {
      to.write(chunk);
    }
  };
  const drain = () => {
    timer = undefined;
    let next = queue[0];
    while (next !== undefined && next.at <= Date.now()) {
      queue.shift();
      write(next.chunk);
      next = queue[0];
    }
    if (next !== undefined) {
      timer = setTimeout(drain, next.at - Date.now());
    }
  };
  from.on('data', (chunk: Buffer) => {
    const latencyMs = link.latencyMs();
    if (latencyMs === 0 && queue.length === 0) {
      write(chunk);
      return;
    }
    queue.push({ at: Date.now() + latencyMs, chunk });
    timer ??= setTimeout(drain, latencyMs);
  });
  from.on('close', () => clearTimeout(timer));
}

/** Starts a relay on a free loopback port forwarding to `target`. */
export async function startRelay(target: { host: string; port: number }): Promise<Relay> {
  const sockets = new Set<Socket>();
  let mode: RelayMode = 'up';
  let latencyMs = 0;
  const link = { mode: () => mode, latencyMs: () => latencyMs };

  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', noop);
  };
  const destroyAll = () => {
    for (const socket of sockets) {
      socket.destroy();
    }
    sockets.clear();
  };

  const server: NetServer = createServer((client) => {
    track(client);
    if (mode !== 'up') {
      // Blackhole: held open and never answered.
      return;
    }
    const upstream = netConnect(target.port, target.host);
    track(upstream);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    forward(client, upstream, link);
    forward(upstream, client, link);
  });

  const listen = (port: number) =>
    new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolveListen();
      });
    });
  const closeListener = () =>
    new Promise<void>((done) => {
      if (!server.listening) {
        done();
        return;
      }
      server.close(() => done());
      destroyAll();
    });

  await listen(0);
  const port = (server.address() as { port: number }).port;

  return {
    port,
    get mode() {
      return mode;
    },
    async stop() {
      mode = 'down';
      await closeListener();
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    async blackhole() {
      mode = 'blackhole';
      if (!server.listening) {
        await listen(port);
      }
    },
    async resume() {
      // Connections frozen by a blackhole carry a half-sent protocol exchange: drop them, as a real partition
      // healing after the peers' timeouts would.
      destroyAll();
      mode = 'up';
      if (!server.listening) {
        await listen(port);
      }
    },
    async close() {
      mode = 'down';
      await closeListener();
    },
  };
}
