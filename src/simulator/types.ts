import type { Verdict } from '../protocol/types.js';

/** The artifact a simulated bounty carries. */
export type ArtifactChoice =
  | 'eicar'
  | 'benign'
  | { file: string }
  | { bytes: Uint8Array; mimetype?: string }
  /** A FILE artifact downloaded from this URL instead of one the simulator serves. */
  | { artifactUrl: string }
  /** A URL artifact (`artifact_type: "url"`) pointing at this address. */
  | { urlArtifact: string };

export interface BountyOptions {
  /** Default 'eicar'. */
  artifact?: ArtifactChoice;
  /** Default: malicious for EICAR, benign for the benign file, else any. */
  expect?: Verdict | 'any';
  phase?: 'assertion' | 'arbitration';
  /** Time from sending to the bounty's expiration; default 30 s. */
  expirationMs?: number;
  /** Fields to set, by dotted path (`rules.max_allowed_bid`), after the bounty is built. */
  set?: Record<string, unknown>;
  /** v0 field names (`guid`, `artifact_url`). */
  legacy?: boolean;
  /** A JSON bounty to send instead of a built one; its `response_url` is still pointed at the simulator. */
  payload?: Uint8Array;
  /** Send the bounty even if it is not valid; the case then passes when the engine rejects it with 4xx. */
  allowInvalid?: boolean;
}

export type Suite = 'ping' | 'bounty' | 'analyze' | 'all';

export interface TestEngineOptions {
  /** The engine's webhook URL, e.g. http://127.0.0.1:3000/ */
  url: string;
  secret: string;
  /** Default 'bounty'. */
  suite?: Suite;
  bounty?: BountyOptions;
  /** How long to wait for each HTTP response from the engine; default 10 s. */
  timeoutMs?: number;
  /** `all`: time until each bounty expires; default 30 s (bounty.expirationMs wins for `bounty`). */
  expirationMs?: number;
  /** Stop at the first failing case (runs the cases one after the other). */
  bail?: boolean;
  /** Where the secret came from, for the 401 explanation (never the secret itself). */
  secretSource?: string;
  /** Called with each case's result, in suite order, as soon as it is known. */
  onCase?: (result: CaseResult) => void;
  /** Verbose trace: the signed bytes' length and hash, each request and each answer (never the secret). */
  trace?: (line: string) => void;
  /**
   * Interface the simulator's artifact host and answer receiver bind to; default 127.0.0.1 (loopback only).
   * E.g. '0.0.0.0' for an engine in Docker, which cannot reach this machine's 127.0.0.1.
   */
  listenHost?: string;
  /**
   * Host name or address put into `artifact_uri` and `response_url`, as the engine must reach it (e.g.
   * 'host.docker.internal' or the docker bridge '172.17.0.1'); IPv6 literals are bracketed in the URLs for you.
   * Default: listenHost, or 127.0.0.1 when listening on 0.0.0.0 or ::.
   */
  advertiseHost?: string;
  /** Port the simulator's host binds (for a firewall rule or a port mapping); default 0, a free port. */
  callbackPort?: number;
  /** Called once the simulator's host listens, before the first event is sent. */
  onListening?: (callback: CallbackInfo) => void;
}

/** Where the simulator receives the engine's downloads and answers. */
export interface CallbackInfo {
  /** The base of every artifact_uri and response_url, e.g. `http://172.17.0.1:41234`. */
  url: string;
  /** The bound interface and port, e.g. `0.0.0.0:41234`. */
  listen: string;
  /** Loopback 127.0.0.1 on a free port: no --listen-host, --advertise-host or --callback-port given. */
  isDefault: boolean;
}

export interface CaseResult {
  name: string;
  ok: boolean;
  ms: number;
  messages: string[];
  warnings: string[];
  /** The answer the engine posted, parsed (bids as bigints), when there was one. */
  answer?: unknown;
}

export interface TestReport {
  ok: boolean;
  passed: number;
  failed: number;
  cases: CaseResult[];
  /** Cases not run because the run stopped early (the ping of `all` failed, or `bail`). */
  notRun?: number;
}
