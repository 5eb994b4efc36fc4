/**
 * The flags every `test` subcommand shares, in `--help` order: the engine and its secret, the subcommand's own flags,
 * output, then the callback address (for an engine in a container).
 */
import { duration, flag, inGroup, integer, text, type OptionSpecs } from './define.js';
import { cwdOption } from './engine-options.js';

/** The `--help` heading of the flags that choose what a command prints or writes. */
export const OUTPUT_GROUP = 'Output:';
const CALLBACKS = 'Callbacks (an engine in a container or on another host):';

function engineOptions() {
  return {
    url: text('-u, --url <url>', "the engine's webhook URL", {
      defaultLabel: 'the running `serve`, else boot this project, else http://127.0.0.1:3000/',
    }),
    // Not resolved from the environment here: the simulator looks for the secret in the *project's* .env, which may
    // be a parent of --cwd (simulator/target.ts), and says where it found it.
    secret: text('--secret <secret>', 'webhook secret', { defaultLabel: "$WEBHOOK_SECRET, then WEBHOOK_SECRET in the project's .env" }),
    cwd: cwdOption(),
    timeout: duration('--timeout <duration>', 'how long to wait for the engine to acknowledge', {
      defaultValue: 10_000,
      defaultLabel: '10s',
    }),
  };
}

/** `--expiration` of the commands that send many bounties (test load, test corpus). */
export const expirationOption = () =>
  duration('--expiration <duration>', "each bounty's time until expiration", { defaultValue: 30_000, defaultLabel: '30s', min: 1000 });

/** What `test load` and `test corpus` hand the simulator from their shared flags: timings and the callback address. */
export function streamSettings(options: {
  expiration: number;
  timeout: number;
  listenHost: string;
  advertiseHost?: string;
  callbackPort?: number;
}) {
  return {
    expirationMs: options.expiration,
    timeoutMs: options.timeout,
    listenHost: options.listenHost,
    advertiseHost: options.advertiseHost,
    port: options.callbackPort,
  };
}

function outputOptions() {
  return inGroup(OUTPUT_GROUP, {
    json: flag('--json', 'print one JSON object per case and a summary, nothing else'),
    verbose: flag('-v, --verbose', 'show the signed bytes, requests and answers (never the secret)'),
    junit: text('--junit <file>', 'also write a JUnit XML report'),
  });
}

function callbackOptions() {
  return inGroup(CALLBACKS, {
    listenHost: text(
      '--listen-host <addr>',
      "interface the simulator's artifact host and answer receiver bind to, e.g. 0.0.0.0 for an engine in Docker",
      { defaultValue: '127.0.0.1' },
    ),
    advertiseHost: text(
      '--advertise-host <host>',
      'host the engine reaches them at, put into artifact_uri and response_url, e.g. host.docker.internal or 172.17.0.1',
      {
        defaultLabel: 'the listen host, 127.0.0.1 for 0.0.0.0/::',
      },
    ),
    callbackPort: integer('--callback-port <port>', 'port they bind, for a firewall rule or port mapping', {
      min: 0,
      max: 65_535,
      defaultLabel: '0, a free one',
    }),
  });
}

/** The options of a `test` subcommand: the shared ones around `own`, the subcommand's (grouped as it likes). */
export function testOptions<O extends OptionSpecs>(own: O) {
  return { ...engineOptions(), ...own, ...outputOptions(), ...callbackOptions() };
}

/** The options every `test` subcommand takes. */
export function commonOptions() {
  return testOptions({});
}

/** The options of `load` and `corpus` around their own: no --verbose (hundreds of bounties), --json prints one document. */
export function streamOptions<O extends OptionSpecs>(own: O) {
  return {
    ...engineOptions(),
    ...own,
    json: flag('--json', 'print the report as one JSON document, nothing else', { group: OUTPUT_GROUP }),
    ...callbackOptions(),
  };
}
