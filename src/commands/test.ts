/**
 * `polyswarm-engine test ping|bounty|analyze|all|load|corpus`: sends simulated, signed PolySwarm events to an engine
 * and checks its answers (`load`: under a stream of bounties; `corpus`: over a folder of labelled files).
 * Exit 0 all passed, 1 a check failed, 2 usage, 3 engine unreachable.
 */
import { resolve } from 'node:path';
import type { ArtifactChoice, BountyOptions, Suite } from '../simulator/run.js';
import { UsageError } from '../util/errors.js';
import { choice, defineCommand, duration, flag, integer, list, text, type OptionValues } from './define.js';
import { cwdOption } from './engine-options.js';
import { testReplay } from './test-replay.js';

const VERDICTS = ['benign', 'malicious', 'suspicious', 'unknown', 'any'] as const;

/** The options every `test` subcommand takes. */
function commonOptions() {
  return {
    url: text('-u, --url <url>', 'engine webhook URL', {
      defaultLabel: 'the running `serve`, else boot this project, else http://127.0.0.1:3000/',
    }),
    // Not resolved from the environment here: the simulator looks for the secret in the *project's* .env, which may
    // be a parent of --cwd (simulator/target.ts), and says where it found it.
    secret: text('--secret <secret>', 'webhook secret', { defaultLabel: "$WEBHOOK_SECRET, then WEBHOOK_SECRET in the project's .env" }),
    timeout: duration('--timeout <duration>', 'how long to wait for the engine to acknowledge', {
      defaultValue: 10_000,
      defaultLabel: '10s',
    }),
    json: flag('--json', 'print one JSON object per case and a summary, nothing else'),
    verbose: flag('-v, --verbose', 'show the signed bytes, requests and answers (never the secret)'),
    junit: text('--junit <file>', 'also write a JUnit XML report'),
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
    callbackPort: integer(
      '--callback-port <port>',
      'port they bind, for a firewall rule or port mapping',
      { min: 0, max: 65_535 },
      { defaultLabel: '0, a free one' },
    ),
    cwd: cwdOption(),
  };
}

function bountyFlags() {
  return {
    ...commonOptions(),
    eicar: flag('--eicar', 'the EICAR test file (expects malicious; the default)'),
    benign: flag('--benign', 'a harmless text file (expects benign)'),
    file: text('--file <path>', 'a file of yours, served on loopback'),
    artifactUrl: text('--artifact-url <url>', 'a FILE artifact downloaded from this URL instead of served locally'),
    urlArtifact: text('--url-artifact <url>', 'a URL artifact (artifact_type "url") pointing at this address'),
    phase: choice('--phase <phase>', 'bounty phase', ['assertion', 'arbitration'] as const, { defaultValue: 'assertion' }),
    expect: choice('--expect <verdict>', 'verdict to expect', VERDICTS),
    set: list('--set <path=value>', 'set a field of the bounty, e.g. rules.max_allowed_bid=10 (repeatable)'),
    payload: text('--payload <file>', 'send this JSON bounty as is ("-" for stdin); response_url is still pointed at the receiver'),
    legacy: flag('--legacy', 'send v0 field names (guid, artifact_url)'),
    expiration: duration('--expiration <duration>', 'time until the bounty expires', { defaultValue: 30_000, defaultLabel: '30s' }),
    allowInvalid: flag('--allow-invalid', 'send a bounty even when it is not valid (negative tests)'),
  };
}

function allFlags() {
  return {
    ...commonOptions(),
    expiration: duration('--expiration <duration>', 'time until each bounty expires', { defaultValue: 30_000, defaultLabel: '30s' }),
    bail: flag('--bail', 'stop at the first failing case'),
  };
}

/** The flags `load` and `corpus` share with the others: no --verbose (hundreds of bounties). */
function runFlags() {
  const { verbose: _verbose, junit: _junit, json: _json, ...rest } = commonOptions();
  return { ...rest, json: flag('--json', 'print the report as one JSON document, nothing else') };
}

function loadFlags() {
  return {
    ...runFlags(),
    rate: integer('--rate <n>', 'bounties per second (open loop)', { min: 1, max: 100_000 }),
    concurrency: integer('--concurrency <n>', 'bounties in flight at once (closed loop: the next is sent when one is answered)', {
      min: 1,
      max: 10_000,
    }),
    duration: duration('--duration <duration>', 'how long to send bounties', { defaultValue: 30_000, defaultLabel: '30s', min: 1 }),
    artifact: text('--artifact <eicar|benign|file>', 'the artifact every bounty carries', { defaultValue: 'eicar' }),
    expiration: duration('--expiration <duration>', "each bounty's time until expiration", {
      defaultValue: 30_000,
      defaultLabel: '30s',
      min: 1000,
    }),
  };
}

function corpusFlags() {
  return {
    ...runFlags(),
    concurrency: integer('--concurrency <n>', 'files in flight at once', { min: 1, max: 1000 }, { defaultValue: 4 }),
    labels: text(
      '--labels <file.csv>',
      'label the files with a CSV of "path or sha256,malicious|benign" instead of malicious/ and benign/ subfolders',
    ),
    junit: text('--junit <file>', 'also write JUnit XML, one test case per file'),
    html: text('--html <file>', 'also write a self-contained HTML report (matrix, rates, latency chart)'),
    minDetection: text('--min-detection <percent>', 'exit 1 when fewer malicious files are answered malicious, e.g. 95'),
    maxFalsePositives: text('--max-false-positives <percent>', 'exit 1 when more benign files are answered malicious, e.g. 1'),
    expiration: duration('--expiration <duration>', "each bounty's time until expiration", {
      defaultValue: 30_000,
      defaultLabel: '30s',
      min: 1000,
    }),
  };
}

type TestOptions = OptionValues<ReturnType<typeof commonOptions>> &
  Partial<OptionValues<ReturnType<typeof bountyFlags>>> &
  Partial<OptionValues<ReturnType<typeof allFlags>>>;

export const test = defineCommand({
  name: 'test',
  description: 'send signed simulated events to an engine and check what it answers',
  options: {},
  examples: [
    'polyswarm-engine test ping',
    'polyswarm-engine test bounty --eicar',
    'polyswarm-engine test bounty --file ./sample.exe --expect malicious',
    'polyswarm-engine test analyze',
    'polyswarm-engine test all --url http://127.0.0.1:8080/ --secret qwertyuiop --junit report.xml',
    'polyswarm-engine test all --url http://127.0.0.1:8080/ --listen-host 0.0.0.0 --advertise-host host.docker.internal   # engine in Docker',
  ],
  subcommands: [
    defineCommand({
      name: 'ping',
      description: 'send a signed ping; passes on any 2xx',
      options: commonOptions(),
      examples: ['polyswarm-engine test ping', 'polyswarm-engine test ping --url http://127.0.0.1:8080/ --secret qwertyuiop'],
      run: ({ options }) => runTest('ping', options),
    }),
    defineCommand({
      name: 'bounty',
      description: 'send a bounty, serve its artifact, catch and check the answer',
      options: bountyFlags(),
      examples: [
        'polyswarm-engine test bounty --eicar',
        'polyswarm-engine test bounty --file ./sample.exe --expect malicious',
        'polyswarm-engine test bounty --url-artifact https://example.com/ --expect unknown',
        'polyswarm-engine test bounty --phase arbitration --set rules.max_allowed_bid=10',
      ],
      run: ({ options }) => runTest('bounty', options),
    }),
    defineCommand({
      name: 'analyze',
      description: 'send an unsupported event; passes on 4xx if the engine keeps serving',
      options: commonOptions(),
      examples: ['polyswarm-engine test analyze', 'polyswarm-engine test analyze --url http://127.0.0.1:8080/ --json'],
      run: ({ options }) => runTest('analyze', options),
    }),
    defineCommand({
      name: 'all',
      description: 'run the conformance suite',
      options: allFlags(),
      examples: [
        'polyswarm-engine test all',
        'polyswarm-engine test all --url http://127.0.0.1:8080/ --secret qwertyuiop --junit report.xml',
        'polyswarm-engine test all --url http://127.0.0.1:8080/ --listen-host 0.0.0.0 --advertise-host host.docker.internal   # engine in Docker',
      ],
      run: ({ options }) => runTest('all', options),
    }),
    defineCommand({
      name: 'load',
      description: 'send bounties at a rate (or N at once) for a while: latencies, throughput, and answers lost or repeated',
      options: loadFlags(),
      examples: [
        'polyswarm-engine test load --rate 50 --duration 30s',
        'polyswarm-engine test load --concurrency 16 --duration 1m --artifact benign --url http://127.0.0.1:8080/ --secret qwertyuiop',
      ],
      epilog: '\nExit 1 when an accepted bounty went unanswered or was answered twice.\n',
      run: ({ options }) => runLoadCommand(options),
    }),
    defineCommand({
      name: 'corpus',
      description: 'send every file of a labelled corpus as a bounty: confusion matrix, rates, latencies, bids',
      args: [{ name: 'dir', description: 'the corpus: files under DIR/malicious/ and DIR/benign/ (or DIR with --labels)' }],
      options: corpusFlags(),
      examples: [
        'polyswarm-engine test corpus ./corpus --concurrency 8',
        'polyswarm-engine test corpus ./samples --labels labels.csv --junit corpus.xml --html corpus.html --min-detection 95 --max-false-positives 1',
      ],
      epilog: '\nExit 1 when a gate (--min-detection, --max-false-positives) fails, or a file went unanswered or was answered twice.\n',
      run: ({ args, options }) => runCorpusCommand(args[0], options),
    }),
    testReplay,
  ],
});

/** `95`, `95%` or `99.5` → 0.95…; a usage error otherwise. */
function percentFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(value);
  if (!match || Number(match[1]) > 100)
    throw new UsageError(`${flag} ${JSON.stringify(value)}: expected a percentage between 0 and 100, e.g. 95`);
  return Number(match[1]) / 100;
}

async function runCorpusCommand(dir: string | undefined, options: OptionValues<ReturnType<typeof corpusFlags>>): Promise<number> {
  const { writeFile } = await import('node:fs/promises');
  const { runCorpus } = await import('../simulator/corpus.js');
  const { corpusJson, corpusJunit, formatCorpusReport, percent, progressBar } = await import('../simulator/corpus-report.js');
  const { corpusHtml } = await import('../simulator/corpus-html.js');
  const { resolveTarget } = await import('../simulator/target.js');
  const { ExitCode } = await import('../util/errors.js');
  const { theme } = await import('../util/logger.js');
  if (dir === undefined)
    throw new UsageError('test corpus needs a folder', {
      hint: 'polyswarm-engine test corpus DIR, with the files under DIR/malicious/ and DIR/benign/',
    });
  const minDetection = percentFlag('--min-detection', options.minDetection);
  const maxFalsePositives = percentFlag('--max-false-positives', options.maxFalsePositives);
  const corpusDir = resolve(options.cwd, dir);
  const err = process.stderr;
  const live = err.isTTY === true && !options.json;
  const target = await resolveTarget({ url: options.url, secret: options.secret, cwd: options.cwd });
  try {
    const { report, results } = await runCorpus({
      url: target.url,
      secret: target.secret,
      dir: corpusDir,
      labels: options.labels === undefined ? undefined : resolve(options.cwd, options.labels),
      concurrency: options.concurrency,
      expirationMs: options.expiration,
      timeoutMs: options.timeout,
      listenHost: options.listenHost,
      advertiseHost: options.advertiseHost,
      port: options.callbackPort,
      onListening: () => {
        if (!options.json)
          err.write(
            `${theme.dim('Corpus')} ${corpusDir} ${theme.dim('→')} ${target.description} ${theme.dim(`(secret from ${target.secretSource})`)}\n`,
          );
      },
      onProgress: options.json
        ? undefined
        : (done, total) => {
            if (live) err.write(`\r\u001b[2K${progressBar(done, total)}`);
            else if (done === total || done % 50 === 0) err.write(`${progressBar(done, total)}\n`);
          },
    });
    if (live) err.write('\n');
    const write = async (flag: string, file: string, text: string) => {
      try {
        await writeFile(resolve(options.cwd, file), text);
      } catch (error) {
        throw new UsageError(`${flag} ${file}: cannot write it (${(error as Error).message})`);
      }
    };
    if (options.junit) await write('--junit', options.junit, corpusJunit(results, `polyswarm-engine test corpus ${dir}`));
    if (options.html)
      await write('--html', options.html, corpusHtml(report, { engine: target.url, corpus: corpusDir, generatedAt: new Date() }));
    const failures: string[] = [];
    if (minDetection !== undefined && (report.detectionRate ?? 0) < minDetection)
      failures.push(`detection rate ${percent(report.detectionRate)} is below --min-detection ${percent(minDetection)}`);
    if (maxFalsePositives !== undefined && (report.falsePositiveRate ?? 0) > maxFalsePositives) {
      failures.push(
        `false-positive rate ${percent(report.falsePositiveRate)} is above --max-false-positives ${percent(maxFalsePositives)}`,
      );
    }
    if (report.missing > 0)
      failures.push(
        `${report.missing} file${report.missing === 1 ? '' : 's'} got no answer: every accepted bounty must be answered (unknown, bid 0, when undecided)`,
      );
    if (report.answeredTwice > 0)
      failures.push(`${report.answeredTwice} file${report.answeredTwice === 1 ? ' was' : 's were'} answered twice`);
    if (options.json) process.stdout.write(corpusJson(report, { url: target.url, dir: corpusDir, ok: failures.length === 0, failures }));
    else
      process.stdout.write(
        formatCorpusReport(report) +
          (failures.length === 0 ? `\n${theme.pass} corpus passed\n` : `\n${failures.map((f) => theme.fail(f)).join('\n')}\n`),
      );
    return failures.length === 0 ? ExitCode.OK : ExitCode.CHECK_FAILED;
  } finally {
    await target.stop();
  }
}

async function runLoadCommand(options: OptionValues<ReturnType<typeof loadFlags>>): Promise<number> {
  const { runLoad } = await import('../simulator/load.js');
  const { formatLoadReport, loadJson, progressLine } = await import('../simulator/load-report.js');
  const { resolveTarget } = await import('../simulator/target.js');
  const { ExitCode } = await import('../util/errors.js');
  const { theme } = await import('../util/logger.js');
  if ((options.rate === undefined) === (options.concurrency === undefined)) {
    throw new UsageError(
      options.rate === undefined
        ? 'choose a load: --rate N (bounties per second) or --concurrency N (bounties in flight)'
        : 'choose --rate or --concurrency, not both',
    );
  }
  const artifact =
    options.artifact === 'eicar' || options.artifact === 'benign' ? options.artifact : { file: resolve(options.cwd, options.artifact) };
  const err = process.stderr;
  const live = err.isTTY === true && !options.json;
  const target = await resolveTarget({ url: options.url, secret: options.secret, cwd: options.cwd });
  try {
    let ticks = 0;
    const report = await runLoad({
      url: target.url,
      secret: target.secret,
      rate: options.rate,
      concurrency: options.concurrency,
      durationMs: options.duration,
      artifact,
      expirationMs: options.expiration,
      timeoutMs: options.timeout,
      listenHost: options.listenHost,
      advertiseHost: options.advertiseHost,
      port: options.callbackPort,
      onListening: () => {
        if (!options.json)
          err.write(`${theme.dim('Load testing')} ${target.description} ${theme.dim(`(secret from ${target.secretSource})`)}\n`);
      },
      // On a terminal the line is rewritten every second; in a log, one line every five.
      onProgress: options.json
        ? undefined
        : (p) => {
            if (live) err.write(`\r\u001b[2K${progressLine(p)}`);
            else if (ticks++ % 5 === 4) err.write(`${progressLine(p)}\n`);
          },
    });
    if (live) err.write('\n');
    process.stdout.write(options.json ? loadJson(report, { url: target.url }) : formatLoadReport(report));
    return report.ok ? ExitCode.OK : ExitCode.CHECK_FAILED;
  } finally {
    await target.stop();
  }
}

/** The artifact flags of `test bounty`: at most one, and none together with --payload. */
function artifactChoice(options: TestOptions): ArtifactChoice | undefined {
  const given: [string, ArtifactChoice][] = [];
  if (options.eicar) given.push(['--eicar', 'eicar']);
  if (options.benign) given.push(['--benign', 'benign']);
  if (options.file !== undefined) given.push(['--file', { file: resolve(options.cwd, options.file) }]);
  if (options.artifactUrl !== undefined) given.push(['--artifact-url', { artifactUrl: options.artifactUrl }]);
  if (options.urlArtifact !== undefined) given.push(['--url-artifact', { urlArtifact: options.urlArtifact }]);
  if (given.length > 1) {
    throw new UsageError(`choose one artifact, not ${given.map(([flag]) => flag).join(' and ')}`, {
      hint: 'One of --eicar (the default), --benign, --file PATH, --artifact-url URL, --url-artifact URL.',
    });
  }
  if (given.length === 1 && options.payload !== undefined) {
    throw new UsageError(`--payload sends its own artifact; drop ${given[0][0]}`);
  }
  for (const [flagName, picked] of given) {
    const url =
      typeof picked === 'object' && 'artifactUrl' in picked
        ? picked.artifactUrl
        : typeof picked === 'object' && 'urlArtifact' in picked
          ? picked.urlArtifact
          : null;
    if (url !== null && !/^https?:\/\/[^/]+/i.test(url))
      throw new UsageError(`${flagName} ${JSON.stringify(url)}: expected an http(s) URL`);
  }
  return given[0]?.[1];
}

async function bountyOptions(options: TestOptions): Promise<BountyOptions> {
  const { parseSetArgument } = await import('../simulator/bounty.js');
  const { readInput } = await import('../util/input.js');
  const artifact = artifactChoice(options);
  // Before any engine is booted: a file that cannot be read is a usage error now, not after a cold start.
  if (typeof artifact === 'object' && 'file' in artifact) await (await import('../simulator/cases.js')).readArtifactFile(artifact.file);
  const bounty: BountyOptions = {
    artifact,
    phase: options.phase,
    expect: options.expect,
    legacy: options.legacy,
    allowInvalid: options.allowInvalid,
    expirationMs: options.expiration,
  };
  if (options.set && options.set.length > 0) {
    bounty.set = {};
    for (const argument of options.set) {
      const { path, value } = parseSetArgument(argument);
      bounty.set[path.join('.')] = value;
    }
  }
  if (options.payload !== undefined)
    bounty.payload = (await readInput(options.payload === '-' ? '-' : resolve(options.cwd, options.payload))).bytes;
  return bounty;
}

async function runTest(suite: Suite, options: TestOptions): Promise<number> {
  const { writeFile } = await import('node:fs/promises');
  const { testEngine } = await import('../simulator/run.js');
  const { caseJson, formatCase, formatSummary, junitXml, summaryJson } = await import('../simulator/report.js');
  const { resolveTarget } = await import('../simulator/target.js');
  const { ExitCode } = await import('../util/errors.js');
  const { theme } = await import('../util/logger.js');
  const timeoutMs = options.timeout;
  if (timeoutMs <= 0) throw new UsageError('--timeout must be more than 0');
  const bounty = suite === 'bounty' ? await bountyOptions(options) : undefined;
  const expirationMs = options.expiration;
  if (suite === 'all' && expirationMs !== undefined && expirationMs < 1000) {
    throw new UsageError('--expiration must be at least 1s: the engine needs time to scan and answer');
  }

  const out = process.stdout;
  const err = process.stderr;
  const target = await resolveTarget({ url: options.url, secret: options.secret, cwd: options.cwd });
  try {
    const header = `${theme.dim('Testing')} ${target.description} ${theme.dim(`(secret from ${target.secretSource})`)}`;
    let callbackUrl: string | undefined;
    const report = await testEngine({
      url: target.url,
      secret: target.secret,
      secretSource: target.secretSource,
      suite,
      bounty,
      timeoutMs,
      expirationMs,
      bail: options.bail,
      listenHost: options.listenHost,
      advertiseHost: options.advertiseHost,
      callbackPort: options.callbackPort,
      // The header waits for the simulator's host: its URL (and a free port) are only known once it listens.
      onListening: (callback) => {
        if (!callback.isDefault) callbackUrl = callback.url;
        if (options.json) return;
        const bound = new URL(callback.url).host === callback.listen ? '' : theme.dim(` (listening on ${callback.listen})`);
        err.write(callback.isDefault ? `${header}\n` : `${header}${theme.dim(', callbacks at')} ${callback.url}${bound}\n`);
      },
      onCase: (result) => out.write(options.json ? caseJson(result) : formatCase(result)),
      trace: options.verbose ? (line) => err.write(`${theme.dim(line)}\n`) : undefined,
    });
    out.write(
      options.json
        ? summaryJson(report, { suite, url: target.url, ...(callbackUrl ? { callback: callbackUrl } : {}) })
        : formatSummary(report),
    );
    if (options.junit) {
      const file = resolve(options.cwd, options.junit);
      try {
        await writeFile(file, junitXml(report, `polyswarm-engine test ${suite}`));
      } catch (error) {
        throw new UsageError(`--junit ${options.junit}: cannot write it (${(error as Error).message})`);
      }
    }
    return report.ok ? ExitCode.OK : ExitCode.CHECK_FAILED;
  } finally {
    await target.stop();
  }
}
