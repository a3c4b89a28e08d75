// Outages of a shared service for a describe block: two instances with a relay in front of the service, and the
// service taken away around a piece of work and always brought back.
import { beforeAll } from 'vitest';
import type { ServerHandle } from '../../../src/server/index.ts';
import type { Cluster, ClusterOptions, ScaleSuite } from './cluster.ts';
import type { Relay } from './relay.ts';

/** Two instances of one cluster, the relay an outage goes through, and a key for the requests that drive the test. */
export interface RelayedPair {
  cluster: Cluster;
  relay: Relay;
  a: ServerHandle;
  b: ServerHandle;
  /** A key of a roomy organization, for health checks and polls that must never run into a limit themselves. */
  admin: string;
}

/**
 * Registers a beforeAll in the calling describe block that starts two instances with `options` and picks the relay
 * the outages go through (`relayOf`); the returned object is filled in before the block's tests run.
 */
export function relayedPair(
  suite: ScaleSuite,
  options: ClusterOptions,
  relayOf: (cluster: Cluster) => Relay | undefined,
): RelayedPair {
  const pair = {} as RelayedPair;
  beforeAll(async () => {
    const cluster = await suite.startCluster({ ...options, instances: 2 });
    const relay = relayOf(cluster);
    if (!relay) {
      throw new Error('the cluster has no relay in front of the service the outage takes away');
    }
    const [a, b] = cluster.servers as [ServerHandle, ServerHandle];
    const admin = (await cluster.newKey('roomy', 'admin')).plaintext;
    Object.assign(pair, { cluster, relay, a, b, admin });
  });
  return pair;
}

/**
 * Takes the service behind `relay` away (`stop`: connections refused, as a stopped service; `blackhole`: nothing
 * answers, as a partition), runs `work`, and brings the service back whatever `work` did.
 */
export async function duringOutage<T>(relay: Relay, mode: 'stop' | 'blackhole', work: () => Promise<T>): Promise<T> {
  if (mode === 'stop') {
    await relay.stop();
  } else {
    await relay.blackhole();
  }
  try {
    return await work();
  } finally {
    await relay.resume();
  }
}
