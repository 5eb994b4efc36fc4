import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Verdict } from '../protocol/types.js';
import { parseSetArgument } from '../simulator/bounty.js';
import { testEngine, type ArtifactChoice, type BountyOptions, type Suite } from '../simulator/public.js';
import { caseJson, formatCase, formatSummary, junitXml, summaryJson } from '../simulator/report.js';
import { resolveTarget } from '../simulator/target.js';
import { parseDuration } from '../util/duration.js';
import { ExitCode, UsageError } from '../util/errors.js';
import { readInput } from '../util/input.js';
import { theme } from '../util/logger.js';

interface TestOptions {
  url?: string;
  secret?: string;
  timeout: string;
  json?: boolean;
  verbose?: boolean;
  junit?: string;
  cwd: string;
  eicar?: boolean;
  benign?: boolean;
  file?: string;
  artifactUrl?: string;
  urlArtifact?: string;
  phase?: 'assertion' | 'arbitration';
  expect?: Verdict | 'any';
  set?: string[];
  payload?: string;
  legacy?: boolean;
  expiration?: string;
  allowInvalid?: boolean;
  bail?: boolean;
  listenHost?: string;
  advertiseHost?: string;
  callbackPort?: number;
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
  for (const [flag, choice] of given) {
    const url = typeof choice === 'object' && 'artifactUrl' in choice ? choice.artifactUrl : typeof choice === 'object' && 'urlArtifact' in choice ? choice.urlArtifact : null;
    if (url !== null && !/^https?:\/\/[^/]+/i.test(url)) throw new UsageError(`${flag} ${JSON.stringify(url)}: expected an http(s) URL`);
  }
  return given[0]?.[1];
}

async function bountyOptions(options: TestOptions): Promise<BountyOptions> {
  const bounty: BountyOptions = {
    artifact: artifactChoice(options),
    phase: options.phase,
    expect: options.expect,
    legacy: options.legacy,
    allowInvalid: options.allowInvalid,
    expirationMs: parseDuration(options.expiration ?? '30s', '--expiration'),
  };
  if (options.set && options.set.length > 0) {
    bounty.set = {};
    for (const argument of options.set) {
      const { path, value } = parseSetArgument(argument);
      bounty.set[path.join('.')] = value;
    }
  }
  if (options.payload !== undefined) bounty.payload = (await readInput(options.payload === '-' ? '-' : resolve(options.cwd, options.payload))).bytes;
  return bounty;
}

/**
 * `polyswarm-engine test ping|bounty|analyze|all`: sends simulated, signed PolySwarm events to an engine and
 * checks its answers. Exit 0 all passed, 1 a check failed, 2 usage, 3 engine unreachable.
 */
export async function run(_args: string[], options: TestOptions, name: string): Promise<number> {
  const suite = name as Suite;
  const timeoutMs = parseDuration(options.timeout, '--timeout');
  if (timeoutMs <= 0) throw new UsageError('--timeout must be more than 0');
  const bounty = suite === 'bounty' ? await bountyOptions(options) : undefined;
  const expirationMs = options.expiration !== undefined ? parseDuration(options.expiration, '--expiration') : undefined;
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
    out.write(options.json ? summaryJson(report, { suite, url: target.url, ...(callbackUrl ? { callback: callbackUrl } : {}) }) : formatSummary(report));
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
