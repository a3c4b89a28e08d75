import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

// Server-side request forgery: a webhook URL makes the server send requests where the caller says. Unless the server
// is started with --allow-private-webhooks (local development, tests), a URL must be https and every address its host
// resolves to must be public. The check runs when an endpoint is saved, and every delivery connects through
// `guardedLookup` (transport.ts), which resolves the name once and connects only to addresses that pass the same
// rules: a name pointed at a private address after it was saved (DNS rebinding) is refused where it is used.

/** Where a webhook may not point: loopback, private, link-local, shared, reserved and multicast ranges. */
const BLOCKED = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  BLOCKED.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  BLOCKED.addSubnet(network, prefix, 'ipv6');
}

/** True when `address` (a literal IP) is loopback, private, link-local or otherwise not a public unicast address. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) {
    return BLOCKED.check(address, 'ipv4');
  }
  if (family === 6) {
    // An IPv4-mapped IPv6 address (::ffff:127.0.0.1) is the IPv4 address it maps.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    return mapped ? BLOCKED.check(mapped, 'ipv4') : BLOCKED.check(address, 'ipv6');
  }
  return true;
}

/** The problem of a name resolving to `blocked`, a private address. */
export function privateAddressProblem(host: string, blocked: string): string {
  return `must not point at a loopback, private or link-local address (${host} resolves to ${blocked})`;
}

/** What a webhook URL check allows. */
export interface UrlPolicy {
  /** Allow http and private addresses (--allow-private-webhooks): local development and tests only. */
  allowPrivate: boolean;
  /** Resolves a host name to every address (default: the system resolver, as the delivery's fetch does). */
  resolve?: (host: string) => Promise<string[]>;
}

/** Every address of `host` from the system resolver (as a connection would look it up). */
export async function resolveAll(host: string): Promise<string[]> {
  return (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);
}

/** The longest URL an endpoint may have. */
export const MAX_URL_LENGTH = 2048;

/**
 * Why `raw` can't be a webhook URL, or undefined when it can: not an absolute http(s) URL, not https (unless
 * private webhooks are allowed), credentials in it, a host that does not resolve, or any of its addresses private.
 * `resolveNames: false` checks a literal address but leaves a name to the connection's `guardedLookup` (a delivery).
 */
export async function urlProblem(
  raw: string,
  policy: UrlPolicy,
  { resolveNames = true }: { resolveNames?: boolean } = {},
): Promise<string | undefined> {
  if (raw.length > MAX_URL_LENGTH) {
    return `must be at most ${MAX_URL_LENGTH} characters`;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return 'must be an https URL';
  }
  if (url.protocol === 'http:' && !policy.allowPrivate) {
    return 'must be an https URL';
  }
  if (url.username !== '' || url.password !== '') {
    return 'must not carry credentials (user:password@)';
  }
  if (url.hash !== '') {
    return 'must not have a fragment';
  }
  if (policy.allowPrivate) {
    return undefined;
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (!resolveNames && !isIP(host)) {
    return undefined;
  }
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : await (policy.resolve ?? resolveAll)(host);
  } catch {
    return `host ${host} does not resolve`;
  }
  if (addresses.length === 0) {
    return `host ${host} does not resolve`;
  }
  const blocked = addresses.find(isPrivateAddress);
  return blocked === undefined ? undefined : privateAddressProblem(host, blocked);
}
