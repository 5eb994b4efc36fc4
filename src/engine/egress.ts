/**
 * The egress policy: where artifact downloads and answer posts may connect. Their URLs arrive in requests, so without
 * it anyone holding the secret, or an artifact host's redirect, could make the engine reach its own network (SSRF).
 * The check runs on the address actually connected to, at connect time (http-agent.ts), so a name resolving to
 * loopback, `2130706433`, `[::ffff:127.0.0.1]` or DNS rebinding cannot slip through; each redirect hop is checked.
 *
 * - `public`: only publicly routable addresses (`start` and `worker` default: PolySwarm's endpoints are public).
 * - `any`: everything except link-local and cloud-metadata addresses (`serve` default, and the library's).
 * - `allow`: host names (`.example.com` for subdomains too) and CIDR blocks allowed whatever the mode, metadata included.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';

export type EgressMode = 'public' | 'any';

export interface EgressPolicy {
  mode: EgressMode;
  /** Host names (lowercase; a leading dot matches subdomains too) and CIDR blocks (`10.0.0.0/8`, `fd00::/8`). */
  allow: readonly string[];
}

export const EGRESS_MODES = ['public', 'any'] as const;

/** Thrown (and given to undici's connector callback) when the policy refuses a destination. */
export class EgressRefused extends Error {
  readonly code = 'EGRESS_REFUSED';
  constructor(
    readonly host: string,
    readonly address: string,
    readonly mode: EgressMode,
  ) {
    const where = host === address ? address : `${host} (${address})`;
    super(`the egress policy (${mode}) refused ${where}: ${describeAddress(address)}`);
    this.name = 'EgressRefused';
  }
}

/** Whether `error` (or its cause) is an egress refusal, also one from another copy of this package. */
export function isEgressRefused(error: unknown): error is EgressRefused {
  for (let e = error as { code?: unknown; cause?: unknown } | null | undefined, depth = 0; e && depth < 4; depth++) {
    if (e.code === 'EGRESS_REFUSED') return true;
    e = e.cause as typeof e;
  }
  return false;
}

function blockList(ipv4: string[], ipv6: string[]): BlockList {
  const list = new BlockList();
  for (const cidr of ipv4) list.addSubnet(cidr.split('/')[0]!, Number(cidr.split('/')[1]), 'ipv4');
  for (const cidr of ipv6) list.addSubnet(cidr.split('/')[0]!, Number(cidr.split('/')[1]), 'ipv6');
  return list;
}

/** Link-local and cloud-metadata addresses: refused under every mode (AWS, GCP, Azure, Oracle, Alibaba). */
const METADATA = blockList(
  ['169.254.0.0/16', '100.100.100.200/32', '192.0.0.192/32', '168.63.129.16/32'],
  ['fe80::/10', 'fd00:ec2::254/128'],
);

/** Not publicly routable (IANA special-purpose registries): refused under `public`. */
const NON_PUBLIC = blockList(
  [
    '0.0.0.0/8',
    '10.0.0.0/8',
    '100.64.0.0/10',
    '127.0.0.0/8',
    '172.16.0.0/12',
    '192.0.0.0/24',
    '192.0.2.0/24',
    '192.88.99.0/24',
    '192.168.0.0/16',
    '198.18.0.0/15',
    '198.51.100.0/24',
    '203.0.113.0/24',
    '224.0.0.0/3',
  ],
  ['::/127', '100::/64', '2001::/23', '2001:db8::/32', 'fc00::/7', 'fec0::/10', 'ff00::/8'],
);

/**
 * The IPv4 address an IPv6 address carries, when it carries one that a stack would reach as IPv4: IPv4-mapped
 * (`::ffff:a.b.c.d`, also written `::ffff:7f00:1`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4
 * (`2002:AABB:CCDD::/48`). Null otherwise.
 */
export function embeddedIPv4(address: string): string | null {
  const groups = expandIPv6(address);
  if (!groups) return null;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zeros = (from: number, to: number) => groups.slice(from, to).every((g) => g === 0);
  if (zeros(0, 5) && groups[5] === 0xffff) return v4(groups[6]!, groups[7]!);
  if (zeros(0, 6) && (groups[6] !== 0 || groups[7]! > 1)) return v4(groups[6]!, groups[7]!);
  if (groups[0] === 0x64 && groups[1] === 0xff9b && zeros(2, 6)) return v4(groups[6]!, groups[7]!);
  if (groups[0] === 0x2002) return v4(groups[1]!, groups[2]!);
  return null;
}

/** The eight 16-bit groups of an IPv6 address (dotted IPv4 tail and `::` handled), or null. */
export function expandIPv6(address: string): number[] | null {
  let text = address.toLowerCase().split('%')[0]!;
  if (isIP(text) !== 6) return null;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const part = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const left = part(head);
  const right = part(tail);
  const fill = tail === undefined ? [] : new Array<number>(8 - left.length - right.length).fill(0);
  const groups = [...left, ...fill, ...right];
  return groups.length === 8 ? groups : null;
}

/** An address as the policy sees it: brackets and zone removed, an IPv4 carried in IPv6 taken out. */
function normalise(address: string): { address: string; family: 'ipv4' | 'ipv6' } | null {
  const bare = address.replace(/^\[|\]$/g, '').split('%')[0]!;
  const family = isIP(bare);
  if (family === 4) return { address: bare, family: 'ipv4' };
  if (family !== 6) return null;
  const v4 = embeddedIPv4(bare);
  return v4 ? { address: v4, family: 'ipv4' } : { address: bare, family: 'ipv6' };
}

/** Why an address is special, for refusal messages. */
function describeAddress(address: string): string {
  const n = normalise(address);
  if (!n) return 'not an IP address';
  if (METADATA.check(n.address, n.family)) return 'a link-local or cloud-metadata address';
  if (NON_PUBLIC.check(n.address, n.family)) return 'not a public address';
  return 'not allowed';
}

/** An allow list parsed: host names and CIDR blocks. */
export interface ParsedAllow {
  hosts: string[];
  suffixes: string[];
  cidrs: BlockList;
}

const HOSTNAME = /^\.?(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/;

/**
 * Parses one allow-list entry (HOST, .HOST, IP or CIDR). Throws an Error saying what is wrong with it (worded
 * to follow the whole value, as runtime/config.ts prints it).
 */
export function parseAllowEntry(entry: string, into: ParsedAllow): void {
  const value = entry.trim().toLowerCase();
  const slash = value.indexOf('/');
  const ip = slash === -1 ? value.replace(/^\[|\]$/g, '') : value.slice(0, slash);
  const family = isIP(ip);
  if (family !== 0) {
    const max = family === 4 ? 32 : 128;
    const prefix = slash === -1 ? max : Number(value.slice(slash + 1));
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (slash !== -1 && !/^\d+$/.test(value.slice(slash + 1)))) {
      throw new Error(`has entry ${JSON.stringify(entry)} whose prefix length is not 0–${max}`);
    }
    const n = family === 6 && prefix === 128 ? normalise(ip) : null;
    if (n && n.family === 'ipv4') into.cidrs.addAddress(n.address, 'ipv4');
    else into.cidrs.addSubnet(ip, prefix, family === 4 ? 'ipv4' : 'ipv6');
    return;
  }
  if (slash !== -1 || !HOSTNAME.test(value)) {
    throw new Error(`has entry ${JSON.stringify(entry)}, which is neither a host name nor an IP address or CIDR block (e.g. 10.0.0.0/8)`);
  }
  const host = value.replace(/\.$/, '');
  if (host.startsWith('.')) into.suffixes.push(host);
  else into.hosts.push(host);
}

/** Parses a comma-separated allow list into its entries (each checked by parseAllowEntry). */
export function parseAllowList(value: string): string[] {
  const entries = value
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  const scratch: ParsedAllow = { hosts: [], suffixes: [], cidrs: new BlockList() };
  for (const entry of entries) parseAllowEntry(entry, scratch);
  return entries;
}

/** A compiled policy: `check(host, address)` answers null (allowed) or the refusal. */
export interface EgressGuard {
  readonly policy: EgressPolicy;
  check(host: string, address: string): EgressRefused | null;
}

/** The refusal of a URL host (brackets allowed) that is an IP literal, known without a lookup; null otherwise. */
export function literalCheck(guard: EgressGuard, hostname: string): EgressRefused | null {
  const host = hostname.replace(/^\[|\]$/g, '');
  return isIP(host) ? guard.check(host, host) : null;
}

/** Compiles a policy (throws on an allow entry that does not parse). */
export function createEgressGuard(policy: EgressPolicy): EgressGuard {
  const allow: ParsedAllow = { hosts: [], suffixes: [], cidrs: new BlockList() };
  for (const entry of policy.allow) parseAllowEntry(entry, allow);
  const hostAllowed = (host: string) => {
    const h = host.toLowerCase().replace(/\.$/, '');
    return allow.hosts.includes(h) || allow.suffixes.some((s) => h.endsWith(s) || h === s.slice(1));
  };
  const refusal = (host: string, address: string): EgressRefused | null => {
    const bareHost = host.replace(/^\[|\]$/g, '');
    if (hostAllowed(bareHost)) return null;
    const n = normalise(address);
    // Not an address at all: nothing to connect to that the policy could vouch for.
    if (!n) return new EgressRefused(bareHost, address, policy.mode);
    if (allow.cidrs.check(n.address, n.family)) return null;
    if (METADATA.check(n.address, n.family)) return new EgressRefused(bareHost, address, policy.mode);
    if (policy.mode === 'public' && NON_PUBLIC.check(n.address, n.family)) return new EgressRefused(bareHost, address, policy.mode);
    return null;
  };
  // Pairs found allowed, remembered (the policy never changes): every bounty's answer goes to the same few receivers,
  // and each BlockList check of a string builds a SocketAddress. Bounded; refusals are built anew each time.
  const allowed = new Set<string>();
  return {
    policy,
    check(host, address) {
      const pair = `${host} ${address}`;
      if (allowed.has(pair)) return null;
      const refused = refusal(host, address);
      if (refused === null && allowed.add(pair).size > 1024) allowed.clear();
      return refused;
    },
  };
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `dns.lookup` for net/tls.connect that refuses, after resolution and before connecting, any address the policy
 * does not allow. Every address a name resolves to must pass: a name that answers with a public and a private
 * address at once is refused rather than raced.
 */
export function checkedLookup(guard: EgressGuard): (hostname: string, options: LookupOptions, callback: LookupCallback) => void {
  return (hostname, options, callback) =>
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, options.all ? [] : '', undefined);
      for (const { address } of addresses) {
        const refused = guard.check(hostname, address);
        if (refused) return callback(refused as unknown as NodeJS.ErrnoException, options.all ? [] : '', undefined);
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', undefined);
      callback(null, first.address, first.family);
    });
}

/**
 * Resolves `url`'s host and checks every address now: for requests sent through an HTTP(S) proxy, where the proxy,
 * not this process, connects (and resolves again). The proxy's own policy is then the final guard.
 */
export async function checkUrlNow(url: URL, guard: EgressGuard): Promise<void> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const addresses = isIP(host)
    ? [{ address: host }]
    : await new Promise<LookupAddress[]>((resolve, reject) =>
        dnsLookup(host, { all: true }, (error, found) => (error ? reject(error) : resolve(found))),
      );
  for (const { address } of addresses) {
    const refused = guard.check(host, address);
    if (refused) throw refused;
  }
}

/**
 * Why `url` can never be reached under `guard`, when that is known without a DNS lookup (an IP literal, or
 * `localhost`), else null. The webhook refuses such a bounty at once rather than accept one it cannot answer.
 */
export function literalRefusal(guard: EgressGuard, url: string): EgressRefused | null {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return null;
  }
  const lower = host.toLowerCase().replace(/\.$/, '');
  const address = lower === 'localhost' || lower.endsWith('.localhost') ? '127.0.0.1' : host;
  return isIP(address) ? guard.check(host, address) : null;
}
