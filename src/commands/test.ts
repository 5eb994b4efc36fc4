/**
 * `polyswarm-engine test ping|bounty|analyze|all` (and `load`, `corpus`, `replay`, in their own files): sends signed,
 * simulated PolySwarm events to an engine and checks its answers.
 */
import { resolve } from 'node:path';
import type { ArtifactChoice, BountyOptions, Suite } from '../simulator/run.js';
import { ExitCode, UsageError } from '../util/errors.js';
import { choice, defineCommand, duration, flag, inGroup, list, text, type OptionValues } from './define.js';
import { testCorpus } from './test-corpus.js';
import { testLoad } from './test-load.js';
import { commonOptions, testOptions } from './test-options.js';
import { testReplay } from './test-replay.js';

const VERDICTS = ['benign', 'malicious', 'suspicious', 'unknown', 'any'] as const;
const PHASES = ['assertion', 'arbitration'] as const;

function bountyFlags() {
  return testOptions({
    ...inGroup('Artifact (one of):', {
      eicar: flag('--eicar', 'the EICAR test file (expects malicious; the default)'),
      benign: flag('--benign', 'a harmless text file (expects benign)'),
      file: text('--file <path>', 'a file of yours, served on loopback'),
      remoteFile: text('--remote-file <url>', 'a file the engine downloads from this URL, instead of one served on loopback'),
      scanUrl: text('--scan-url <url>', 'a URL artifact (artifact_type "url"): the engine judges this web address'),
      payload: text('--payload <file>', 'send this JSON bounty as is ("-" for stdin); response_url is still pointed at the receiver'),
    }),
    ...inGroup('Bounty:', {
      phase: choice('--phase <phase>', 'bounty phase', PHASES, { defaultValue: PHASES[0] }),
      expect: choice('--expect <verdict>', 'verdict to expect', VERDICTS),
      expiration: duration('--expiration <duration>', 'time until the bounty expires', { defaultValue: 30_000, defaultLabel: '30s' }),
      set: list('--set <path=value>', 'set a field of the bounty, e.g. rules.max_allowed_bid=10 (repeatable)'),
      legacy: flag('--legacy', 'send v0 field names (guid, artifact_url)'),
      allowInvalid: flag('--allow-invalid', 'send a bounty even when it is not valid (negative tests)'),
    }),
    // The names before --remote-file and --scan-url, too easily taken for --url (the engine's): still accepted.
    artifactUrl: text('--artifact-url <url>', 'old name of --remote-file', { hidden: true }),
    urlArtifact: text('--url-artifact <url>', 'old name of --scan-url', { hidden: true }),
  });
}

function allFlags() {
  return testOptions({
    expiration: duration('--expiration <duration>', 'time until each bounty expires', { defaultValue: 30_000, defaultLabel: '30s' }),
    bail: flag('--bail', 'stop at the first failing case'),
  });
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
        'polyswarm-engine test bounty --scan-url https://example.com/ --expect unknown',
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
    testLoad,
    testCorpus,
    testReplay,
  ],
});

/** The artifact flags of `test bounty`: at most one, and none together with --payload. */
function artifactChoice(options: TestOptions): ArtifactChoice | undefined {
  // The flag, the artifact, and the URL it names (checked once the choice is known to be one).
  const given: [string, ArtifactChoice, string?][] = [];
  if (options.eicar) given.push(['--eicar', 'eicar']);
  if (options.benign) given.push(['--benign', 'benign']);
  if (options.file !== undefined) given.push(['--file', { file: resolve(options.cwd, options.file) }]);
  if (options.remoteFile !== undefined) given.push(['--remote-file', { artifactUrl: options.remoteFile }, options.remoteFile]);
  if (options.artifactUrl !== undefined) given.push(['--artifact-url', { artifactUrl: options.artifactUrl }, options.artifactUrl]);
  if (options.scanUrl !== undefined) given.push(['--scan-url', { urlArtifact: options.scanUrl }, options.scanUrl]);
  if (options.urlArtifact !== undefined) given.push(['--url-artifact', { urlArtifact: options.urlArtifact }, options.urlArtifact]);
  if (given.length > 1) {
    throw new UsageError(`choose one artifact, not ${given.map(([flag]) => flag).join(' and ')}`, {
      hint: 'One of --eicar (the default), --benign, --file PATH, --remote-file URL, --scan-url URL.',
    });
  }
  if (given.length === 1 && options.payload !== undefined) {
    throw new UsageError(`--payload sends its own artifact; drop ${given[0][0]}`);
  }
  for (const [flagName, , url] of given) {
    if (url !== undefined && !/^https?:\/\/[^/]+/i.test(url))
      throw new UsageError(`${flagName} ${JSON.stringify(url)}: expected an http(s) URL`);
  }
  return given[0]?.[1];
}

async function bountyOptions(options: TestOptions): Promise<BountyOptions> {
  const { parseSetArgument } = await import('../simulator/bounty.js');
  const { readBytes, readInput } = await import('../util/input.js');
  const artifact = artifactChoice(options);
  // Before any engine is booted: a file that cannot be read is a usage error now, not after a cold start.
  if (typeof artifact === 'object' && 'file' in artifact) await readBytes(artifact.file, `--file ${artifact.file}`);
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
  const { caseFormatter, caseJson, commonCauses, formatCommonCauses, formatSummary, junitXml, summaryJson } = await import(
    '../simulator/report.js'
  );
  const { resolveTarget } = await import('../simulator/target.js');
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
    const formatCase = caseFormatter();
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
    if (!options.json && report.notRun && !options.bail)
      out.write(
        `${theme.fail(`Stopped after the ping: what answers at ${target.url} is not an engine that accepts these signed events (see above); the other ${report.notRun} cases were not run.`)}\n`,
      );
    const causes = commonCauses(report);
    if (!options.json) out.write(formatCommonCauses(report));
    out.write(
      options.json
        ? summaryJson(report, {
            suite,
            url: target.url,
            ...(callbackUrl ? { callback: callbackUrl } : {}),
            ...(causes.length > 0 ? { commonCauses: causes } : {}),
          })
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
