/**
 * The flags `serve`, `start` and `worker` share, declared once; each also read from the environment and the
 * project's `.env` (runtime/config.ts), so `POLYSWARM_QUEUE_URL` in `.env` reaches the web process and workers alike.
 */
import { DEFAULTS } from '../engine/defaults.js';
import { EGRESS_MODES, parseAllowList, type EgressMode } from '../engine/egress.js';
import { parseStatsdUrl } from '../engine/metrics/statsd-url.js';
import { queueNameProblem } from '../engine/redis/options.js';
import { DEFAULT_RECORD_MAX_BYTES } from '../inspector/defaults.js';
import { choice, custom, duration, integer, size, text, type OptionSpec } from './define.js';

const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;

/** A log level; also `warning`, what Python's logging calls it (engine authors coming from the reference type it). */
function parseLogLevel(value: string): (typeof LOG_LEVELS)[number] {
  const v = value.trim().toLowerCase() === 'warning' ? 'warn' : value.trim().toLowerCase();
  const found = LOG_LEVELS.find((l) => l === v);
  if (!found) throw new Error(`must be one of ${LOG_LEVELS.join(', ')}`);
  return found;
}

/** `--help` headings: the everyday flags come first, without one; what production and scaling need, after. */
const QUEUE = 'Queue and limits:';
const PRODUCTION = 'Production:';
const RECORDING = 'Recording (for test replay):';

export const cwdOption = () => text('--cwd <dir>', 'engine project folder', { defaultValue: '.', defaultLabel: 'current folder' });

export const secretOption = () =>
  text('--secret <secret>', 'webhook secret; prefer the environment or .env, a flag shows in `ps`', {
    env: ['WEBHOOK_SECRET', 'PSENGINE_WEBHOOK_SECRET'],
  });

export const secretFileOption = () =>
  text(
    '--secret-file <path>',
    'file holding the webhook secret (a Docker or Kubernetes secret); keeps it out of `ps` and the environment',
    {
      env: 'WEBHOOK_SECRET_FILE',
      group: PRODUCTION,
    },
  );

/** The Redis queue's name: web processes and workers of one engine share it; two engines never should. */
export const queueNameOption = () =>
  ({
    ...text('--queue-name <name>', 'with --queue: the queue’s name in Redis, shared by the engine’s web processes and workers', {
      env: 'POLYSWARM_QUEUE_NAME',
      defaultLabel: 'the project’s package name',
      group: QUEUE,
    }),
    parse: (value: string) => {
      const problem = queueNameProblem(value);
      if (problem) throw new Error(problem);
      return value.trim();
    },
  }) as OptionSpec<string, false>;

/** TLS files for a `rediss://` queue: the web processes and the workers take the same. */
export function queueTlsOptions() {
  const file = (flag: string, what: string, env: string) =>
    text(`${flag} <file>`, `with --queue rediss://…: ${what}`, { env, group: QUEUE });
  return {
    queueCa: file('--queue-ca', 'PEM file of the CA that signed Redis’s certificate', 'POLYSWARM_QUEUE_CA'),
    queueCert: file('--queue-cert', 'PEM file of a client certificate, for a Redis that asks for one', 'POLYSWARM_QUEUE_CERT'),
    queueKey: file('--queue-key', 'PEM file of the client certificate’s private key', 'POLYSWARM_QUEUE_KEY'),
  };
}

export const concurrencyOption = () =>
  integer('-c, --concurrency <n>', 'scans running at once', {
    min: 1,
    max: 10_000,
    env: 'POLYSWARM_CONCURRENCY',
    defaultLabel: 'number of CPUs',
  });

export const previousSecretOption = () =>
  text('--previous-secret <secret>', 'during a secret rotation: the old webhook secret, still accepted (and logged when used)', {
    env: ['WEBHOOK_SECRET_PREVIOUS', 'PSENGINE_WEBHOOK_SECRET_PREVIOUS'],
    group: PRODUCTION,
  });

/**
 * Where downloads and answers may connect (engine/egress.ts): `public` for `start` and `worker` (PolySwarm's endpoints
 * are public), `any` for `serve`, so a local artifact host and answer receiver (`polyswarm-engine test`) just work.
 */
export function egressOptions(defaultMode: EgressMode) {
  return {
    egress: choice(
      '--egress <policy>',
      'where downloads and answers may connect: `public` addresses only, or `any` but link-local and cloud-metadata ones',
      EGRESS_MODES,
      { env: 'POLYSWARM_EGRESS', defaultValue: defaultMode, group: PRODUCTION },
    ),
    egressAllow: custom(
      '--egress-allow <list>',
      'comma-separated hosts (.example.com for subdomains too) and CIDR blocks allowed whatever --egress says',
      parseAllowList,
      { env: 'POLYSWARM_EGRESS_ALLOW', defaultLabel: 'none', group: PRODUCTION },
    ),
  };
}

/** Metrics (runtime/metrics.ts): Prometheus on a listener of its own, and DogStatsD; both off by default. */
export function metricsOptions() {
  return {
    metricsPort: integer(
      '--metrics-port <port>',
      'serve Prometheus metrics at /metrics on this port (its own listener, never the webhook port; 0 picks one)',
      { min: 0, max: 65_535, env: 'POLYSWARM_METRICS_PORT', defaultLabel: 'off', group: PRODUCTION },
    ),
    metricsHost: text('--metrics-host <host>', 'interface the metrics listener binds', {
      env: 'POLYSWARM_METRICS_HOST',
      defaultValue: '127.0.0.1',
      group: PRODUCTION,
    }),
    statsd: custom(
      '--statsd <url>',
      "send DogStatsD metrics (the reference engine's names) to udp://HOST:PORT; tags engine_name and poly_work from ENGINE_NAME and POLY_WORK",
      parseStatsdUrl,
      { env: 'POLYSWARM_STATSD', defaultLabel: 'off', group: PRODUCTION },
    ),
  };
}

/** The options of every long-running command. */
export function processOptions() {
  return {
    cwd: cwdOption(),
    concurrency: concurrencyOption(),
    logFormat: choice('--log-format <format>', 'log lines as text or JSON', ['text', 'json'] as const, {
      env: 'LOG_FORMAT',
      defaultValue: 'text',
    }),
    logLevel: custom(
      '--log-level <level>',
      'lowest level logged',
      parseLogLevel,
      { env: 'LOG_LEVEL', defaultValue: 'info' as const },
      'value',
      LOG_LEVELS,
    ),
    grace: duration('--grace <duration>', 'on SIGTERM, how long running scans may finish before the process stops', {
      env: 'POLYSWARM_SHUTDOWN_GRACE',
      defaultValue: DEFAULTS.shutdownGraceMs,
      defaultLabel: `${DEFAULTS.shutdownGraceMs / 1000}s`,
      group: PRODUCTION,
    }),
    lockDuration: duration(
      '--lock-duration <duration>',
      'with --queue: Redis job lock; a dead worker’s jobs move on after about 1.5× this',
      {
        env: 'POLYSWARM_LOCK_DURATION',
        // BullMQ renews a lock at half its duration; below a second, a busy event loop loses locks it still holds.
        min: 1000,
        defaultValue: DEFAULTS.lockDurationMs,
        defaultLabel: `${DEFAULTS.lockDurationMs / 1000}s`,
        group: QUEUE,
      },
    ),
    ...metricsOptions(),
  };
}

/** The options of the commands that serve the webhook (`serve`, `start`). */
export function webhookOptions(defaultHost: string) {
  return {
    port: integer('-p, --port <port>', 'port to listen on (0 picks a free one)', { min: 0, max: 65_535, env: 'PORT', defaultValue: 3000 }),
    host: text('--host <host>', 'interface to bind', { env: 'HOST', defaultValue: defaultHost }),
    secret: secretOption(),
    secretFile: secretFileOption(),
    previousSecret: previousSecretOption(),
    queue: text(
      '--queue <url|memory>',
      'Redis URL of a shared queue (e.g. redis://127.0.0.1:6379/0), or memory for an embedded queue without its journal',
      {
        env: 'POLYSWARM_QUEUE_URL',
        defaultLabel: 'embedded, journaled in the state folder',
        group: QUEUE,
      },
    ),
    queueName: queueNameOption(),
    ...queueTlsOptions(),
    queueReplicas: integer(
      '--queue-replicas <n>',
      'with --queue: Redis replicas that must hold each bounty before its 202 (WAIT, 100 ms; else 503)',
      { min: 0, max: 100, env: 'POLYSWARM_QUEUE_REPLICAS', defaultLabel: '1 when the master has a replica, else 0', group: QUEUE },
    ),
    stateDir: text('--state-dir <dir>', 'folder of the embedded queue’s journal (mount a volume here in a container)', {
      env: 'POLYSWARM_STATE_DIR',
      defaultLabel: '<project>/.polyswarm',
      group: QUEUE,
    }),
    maxQueued: integer('--max-queued <n>', 'bounties allowed to wait; one more is answered 503 with Retry-After', {
      min: 1,
      max: 10_000_000,
      env: 'POLYSWARM_MAX_QUEUED',
      defaultValue: DEFAULTS.queueCapacity,
      group: QUEUE,
    }),
    maxQueuedBytes: size(
      '--max-queued-bytes <size>',
      'signed body bytes allowed queued or scanning (bounds memory); one more is answered 503',
      {
        min: 1024 * 1024,
        env: 'POLYSWARM_MAX_QUEUED_BYTES',
        defaultValue: DEFAULTS.maxQueuedBytes,
        defaultLabel: `${DEFAULTS.maxQueuedBytes / 1024 ** 2}MiB`,
        group: QUEUE,
      },
    ),
    ...processOptions(),
  };
}

/** The production server's connection caps (engine/connections.ts; DEFAULTS.maxConnectionsPerAddress says why). */
export function connectionOptions() {
  return {
    maxConnections: integer(
      '--max-connections <n>',
      'connections held at once; past it an idle or slow one of the busiest client makes room (lowered to fit the open-file limit)',
      { min: 1, max: 1_000_000, env: 'POLYSWARM_MAX_CONNECTIONS', defaultValue: DEFAULTS.maxConnections, group: PRODUCTION },
    ),
    maxConnectionsPerAddress: integer(
      '--max-connections-per-address <n>',
      'connections held at once from one client address (an IPv6 /64); behind a reverse proxy, raise it to --max-connections',
      {
        min: 1,
        max: 1_000_000,
        env: 'POLYSWARM_MAX_CONNECTIONS_PER_ADDRESS',
        defaultValue: DEFAULTS.maxConnectionsPerAddress,
        group: PRODUCTION,
      },
    ),
  };
}

/** `--record` (inspector/recorder.ts): deliveries (`start`) or jobs (`worker`) in one format, for `test replay`. */
export function recordOptions(what: string) {
  return {
    record: text('--record <file>', `append one JSON line per ${what}`, {
      env: 'POLYSWARM_RECORD',
      group: RECORDING,
    }),
    recordMaxBytes: size('--record-max-bytes <size>', 'rotate the recording to FILE.1 past this size', {
      min: 64 * 1024,
      env: 'POLYSWARM_RECORD_MAX_BYTES',
      defaultValue: DEFAULT_RECORD_MAX_BYTES,
      defaultLabel: `${DEFAULT_RECORD_MAX_BYTES / 1024 ** 2}MiB`,
      group: RECORDING,
    }),
    recordArtifacts: text(
      '--record-artifacts <dir>',
      'with --record: also keep each downloaded artifact as DIR/<sha256>, mode 0600 (they may be malware)',
      { env: 'POLYSWARM_RECORD_ARTIFACTS', group: RECORDING },
    ),
  };
}
