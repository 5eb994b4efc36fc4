/**
 * Many bounties, tracked one by one without keeping their answers' bodies: what `test load` and `test corpus`
 * send. Each bounty gets its own response_url on the simulator's host; a listener counts its answers and hands
 * the first one to the caller, then the record is dropped once the bounty has expired (memory stays flat).
 */
import { Agent } from 'node:http';
import { signedHeaders } from '../protocol/events.js';
import { buildBountyWire, prepareBounty } from './bounty.js';
import { SimulatorHost, type CallbackAddress, type ReceivedAnswer } from './host.js';
import { send } from './http.js';
import type { CallbackInfo } from './types.js';

/** How long after its expiration a bounty is still watched (a late answer, a second one). */
export const WATCH_GRACE_MS = 2000;

export interface Dispatcher {
  url: URL;
  secret: string;
  host: SimulatorHost;
  timeoutMs: number;
  agent?: Agent;
}

/** What a run of many bounties is given: the engine, and where the simulator's host listens. */
export interface DispatchOptions extends CallbackAddress {
  secret: string;
  /** How long to wait for each acknowledgement; default 10 s. */
  timeoutMs?: number;
  onListening?: (callback: CallbackInfo) => void;
}

/**
 * Runs `fn` with a dispatcher for the engine at `url`: the simulator's host started (and announced), a keep-alive
 * agent (the run measures the engine, not connection setup); both closed when `fn` settles.
 */
export async function withDispatcher<T>(url: URL, options: DispatchOptions, fn: (d: Dispatcher) => Promise<T>): Promise<T> {
  const host = new SimulatorHost(options);
  await host.start();
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  try {
    options.onListening?.({ url: host.baseUrl, listen: host.listenAddress, isDefault: host.isDefault });
    return await fn({ url, secret: options.secret, host, timeoutMs: options.timeoutMs ?? 10_000, agent });
  } finally {
    agent.destroy();
    await host.close();
  }
}

export interface TrackedBounty {
  responseUrl: string;
  /** Epoch ms. */
  expiration: number;
  sentAt: number;
  /** performance.now() when it was sent, for latencies. */
  sentTick: number;
  /** The engine's HTTP status, or undefined while waiting / after a network error. */
  status?: number;
  ackMs?: number;
  /** The network error, when the engine gave no HTTP answer. */
  error?: string;
  answers: number;
  /** performance.now() at the first answer. */
  firstAnswerTick?: number;
  /** The first answer arrived after the expiration. */
  late: boolean;
}

export interface DispatchArtifact {
  uri: string;
  sha256: string | null;
  mimetype: string | null;
}

/**
 * Sends one signed bounty for `artifact`, expiring `expirationMs` from now, and tracks it: `onAnswer` is called for
 * every answer (the record updated first). Resolves once the engine has acknowledged it (or failed to).
 */
export async function dispatchBounty(
  d: Dispatcher,
  artifact: DispatchArtifact,
  expirationMs: number,
  onAnswer: (tracked: TrackedBounty, answer: ReceivedAnswer) => void,
): Promise<TrackedBounty> {
  const expiration = Date.now() + expirationMs;
  const tracked: TrackedBounty = { responseUrl: '', expiration, sentAt: Date.now(), sentTick: performance.now(), answers: 0, late: false };
  tracked.responseUrl = d.host.answerUrl((answer) => {
    tracked.answers++;
    if (tracked.answers === 1) {
      tracked.firstAnswerTick = performance.now();
      tracked.late = answer.at > expiration;
    }
    onAnswer(tracked, answer);
  });
  const wire = buildBountyWire({
    artifactType: 'file',
    artifactUri: artifact.uri,
    sha256: artifact.sha256,
    mimetype: artifact.mimetype,
    responseUrl: tracked.responseUrl,
    expiration: new Date(expiration),
    phase: 'assertion',
  });
  const body = prepareBounty(wire).bytes;
  const headers = signedHeaders(d.secret, body, 'bounty');
  try {
    const res = await send(d.url, { method: 'POST', headers, body, timeoutMs: d.timeoutMs, agent: d.agent, maxBodyBytes: 4096 });
    tracked.status = res.status;
    tracked.ackMs = res.ms;
  } catch (error) {
    tracked.error = (error as Error).message;
  }
  return tracked;
}

/** Whether the engine took the bounty (any 2xx). */
export const accepted = (tracked: TrackedBounty): boolean => tracked.status !== undefined && tracked.status >= 200 && tracked.status <= 299;
