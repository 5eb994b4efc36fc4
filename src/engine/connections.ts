/**
 * Fair connections for the production listener (server.ts, docs/protocol.md §12). node:http's own
 * `server.maxConnections` drops every connection past the cap at accept, so one client holding the cap (idle, or
 * sending a byte now and then) kept everyone else out, PolySwarm's pings included. Here one client address holds at
 * most its own cap, and past the global cap a newcomer takes the place of a connection doing nothing useful from the
 * address holding the most: an idle one (no request in flight: keep-alive between requests, or headers not yet
 * complete) before a slow one (a request whose body is still arriving), oldest first. A connection whose request has
 * arrived and is being answered is never cut. A connection that finds no room is refused: held unread, then closed.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Logger } from '../util/logger.js';
import { expandIPv6 } from './egress.js';

/** What a connection is doing: `idle` and `receiving` ones can be cut to make room, `answering` ones cannot. */
export type ConnectionState = 'idle' | 'receiving' | 'answering';

export interface ConnectionStats {
  /** Connections held now. */
  open: number;
  /** The caps in force (the global one lowered to fit the open-file limit, the per-address one to the global). */
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** The address (an IPv6 client's /64) holding the most connections, and how many. */
  busiest: { address: string; open: number } | null;
  /** Connections refused because no room could be made, and connections cut to make room, since start. */
  refused: number;
  evicted: number;
  /** Refused connections held unread now, and at most. */
  refusedHeld: number;
  maxRefusedHeld: number;
}

/** How long on average a refused connection is held unread before it is closed (see ConnectionGuard.refuse). */
const REFUSED_HOLD_MS = 5_000;

export interface GuardOptions {
  maxConnections: number;
  /** Lowered to maxConnections when above it. */
  maxConnectionsPerAddress: number;
  /** Refused connections held unread at once; past it a refused connection is closed at once. */
  maxRefusedHeld: number;
  /** What a held connection is doing. */
  stateOf: (socket: Socket) => ConnectionState;
  logger?: Logger;
}

const ignore = () => {};

/** How often at most a line says that connections were refused or cut (with the counts since the last one). */
const REPORT_EVERY_MS = 10_000;

/**
 * The soft limit on open files of this process (`ulimit -n`), from /proc/self/limits; undefined where that file
 * does not exist (not Linux) or says unlimited.
 */
export function openFileLimit(limits = '/proc/self/limits'): number | undefined {
  try {
    const line = /^Max open files\s+(\d+)/m.exec(readFileSync(limits, 'utf8'));
    return line ? Number(line[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The caps that fit under the open-file limit: every connection is a file, and the engine needs others (the journal,
 * downloads, answer posts, Redis, logs), so a quarter of the limit, at most 256, is left for them; what the held
 * connections leave of the rest may hold refused ones, up to as many again.
 */
export function capsForFileLimit(requested: number, fileLimit: number | undefined): { maxConnections: number; maxRefusedHeld: number } {
  if (fileLimit === undefined) return { maxConnections: requested, maxRefusedHeld: requested };
  const usable = fileLimit - Math.min(256, Math.floor(fileLimit / 4));
  const maxConnections = Math.max(1, Math.min(requested, usable));
  return { maxConnections, maxRefusedHeld: Math.max(0, Math.min(4 * maxConnections, usable - maxConnections)) };
}

/**
 * The key a connection is counted under: the IPv4 address (an IPv4-mapped IPv6 one read as IPv4), or an IPv6
 * address's /64, since one host is routinely given a whole /64 and could otherwise open each connection from a new
 * address.
 */
export function addressKey(address: string): string {
  if (!address.includes(':')) return address;
  if (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address)) return address.slice(7);
  const groups = expandIPv6(address);
  if (!groups) return address;
  const prefix = groups.slice(0, 4).map((g) => g.toString(16));
  return `${prefix.join(':')}::/64`;
}

/**
 * Counts connections per address and makes room for new ones. `admit` is called for every accepted socket (the
 * server's 'connection' event), before it has sent anything; `stateOf` tells what a held connection is doing.
 */
export class ConnectionGuard {
  private readonly byAddress = new Map<string, Set<Socket>>();
  private readonly keys = new WeakMap<Socket, string>();
  private open = 0;
  private refused = 0;
  private evicted = 0;
  private reported = { at: 0, refused: 0, evicted: 0 };

  /** Refused connections held unread until their time is up (see `refuse`). */
  private readonly held = new Set<Socket>();
  readonly maxConnections: number;
  readonly maxConnectionsPerAddress: number;

  constructor(private readonly options: GuardOptions) {
    this.maxConnections = options.maxConnections;
    this.maxConnectionsPerAddress = Math.min(options.maxConnectionsPerAddress, options.maxConnections);
  }

  /** Holds `socket`, making room for it past the global cap; refuses it (and returns false) when it finds none. */
  admit(socket: Socket): boolean {
    if (socket.remoteAddress === undefined || socket.destroyed) {
      socket.on('error', ignore).destroy();
      return false;
    }
    const key = addressKey(socket.remoteAddress);
    const own = this.byAddress.get(key);
    // An address at its cap gets no more; past the global cap, room is made from the busiest address.
    const victim =
      own !== undefined && own.size >= this.maxConnectionsPerAddress
        ? undefined
        : this.open >= this.maxConnections
          ? this.roomFrom((own?.size ?? 0) + 1)
          : null;
    const full = victim === undefined;
    if (full) this.refuse(socket);
    else {
      if (victim !== null) {
        this.evicted++;
        this.release(victim);
        victim.destroy();
      }
      this.hold(key, socket);
    }
    this.report();
    return !full;
  }

  /**
   * The server is closing: closes the refused connections still held, and the held ones that have not sent a byte
   * (node's closeIdleConnections leaves those open, so a silent client held the close for its 5 s grace).
   */
  close(): void {
    for (const socket of this.held) socket.destroy();
    for (const set of this.byAddress.values()) for (const socket of set) if (socket.bytesRead === 0) socket.destroy();
  }

  /**
   * A refused connection is held unread for REFUSED_HOLD_MS before it is closed, while fewer than maxRefusedHeld are:
   * a client that reconnects the moment it is dropped would otherwise keep the kernel's accept queue full of
   * connections to refuse, and a new client's would wait behind them all (measured: bench/connections.mjs).
   */
  private refuse(socket: Socket): void {
    this.refused++;
    // Never given to node:http, so nothing else listens for its errors (a reset while it is held or closed).
    socket.on('error', ignore);
    if (this.held.size >= this.options.maxRefusedHeld) {
      socket.destroy();
      return;
    }
    socket.pause();
    this.held.add(socket);
    // Each for its own time: refused together, closed together, they would all come back at once.
    const timer = setTimeout(() => socket.destroy(), REFUSED_HOLD_MS * (0.5 + Math.random()));
    timer.unref();
    socket.once('close', () => {
      clearTimeout(timer);
      this.held.delete(socket);
    });
  }

  stats(): ConnectionStats {
    let busiest: ConnectionStats['busiest'] = null;
    for (const [address, set] of this.byAddress) if (busiest === null || set.size > busiest.open) busiest = { address, open: set.size };
    return {
      open: this.open,
      maxConnections: this.maxConnections,
      maxConnectionsPerAddress: this.maxConnectionsPerAddress,
      busiest,
      refused: this.refused,
      evicted: this.evicted,
      refusedHeld: this.held.size,
      maxRefusedHeld: this.options.maxRefusedHeld,
    };
  }

  private hold(key: string, socket: Socket): void {
    let set = this.byAddress.get(key);
    if (set === undefined) this.byAddress.set(key, (set = new Set()));
    set.add(socket);
    this.keys.set(socket, key);
    this.open++;
    socket.once('close', () => this.release(socket));
  }

  private release(socket: Socket): void {
    const key = this.keys.get(socket);
    const set = key === undefined ? undefined : this.byAddress.get(key);
    if (key === undefined || set === undefined || !set.delete(socket)) return;
    this.open--;
    if (set.size === 0) this.byAddress.delete(key);
  }

  /**
   * A connection to cut when the global cap is reached, for a newcomer whose address would then hold `holding`: from
   * the address holding the most connections (the hog, not the client that holds one), else the next, but only from
   * an address that would still hold more than the newcomer's. A hog's own new connections are refused rather than
   * cutting its others (which would reconnect and cut again). Undefined when no address qualifies or every
   * connection of those is answering a request.
   */
  private roomFrom(holding: number): Socket | undefined {
    let busiest: Set<Socket> | undefined;
    for (const set of this.byAddress.values()) if (busiest === undefined || set.size > busiest.size) busiest = set;
    if (busiest === undefined || busiest.size <= holding) return undefined;
    const first = this.cuttable(busiest);
    if (first) return first;
    const rest = [...this.byAddress.values()].filter((set) => set !== busiest && set.size > holding).sort((a, b) => b.size - a.size);
    for (const set of rest) {
      const found = this.cuttable(set);
      if (found) return found;
    }
    return undefined;
  }

  /** The set's oldest idle connection, else its oldest one still receiving its request (sets keep insertion order). */
  private cuttable(set: Set<Socket>): Socket | undefined {
    let receiving: Socket | undefined;
    for (const socket of set) {
      const state = this.options.stateOf(socket);
      if (state === 'idle') return socket;
      if (state === 'receiving') receiving ??= socket;
    }
    return receiving;
  }

  /** One line at most every REPORT_EVERY_MS while connections are refused or cut, with the counts since the last. */
  private report(): void {
    const now = Date.now();
    if (now - this.reported.at < REPORT_EVERY_MS) return;
    const refused = this.refused - this.reported.refused;
    const evicted = this.evicted - this.reported.evicted;
    if (refused === 0 && evicted === 0) return;
    this.reported = { at: now, refused: this.refused, evicted: this.evicted };
    const { busiest, open } = this.stats();
    this.options.logger?.warn('connection caps reached: idle or slow connections cut to make room, or new ones refused', {
      refused,
      evicted,
      open,
      busiest: busiest?.address,
      busiestOpen: busiest?.open,
      maxConnections: this.maxConnections,
      maxConnectionsPerAddress: this.maxConnectionsPerAddress,
    });
  }
}
