import { UsageError } from '../util/errors.js';
import { analyzeCase, pingCase, runBountyCase, type CaseDefinition, type CaseOutcome } from './cases.js';
import { conformanceSuite } from './suite.js';
import { CaseRequestError, type RunContext } from './context.js';
import { SimulatorHost } from './host.js';
import { parseEngineUrl } from './target.js';
import type { CaseResult, Suite, TestEngineOptions, TestReport } from './types.js';

export type { ArtifactChoice, BountyOptions, CallbackInfo, CaseResult, Suite, TestEngineOptions, TestReport } from './types.js';

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_EXPIRATION_MS = 30_000;
const SETTLE_MS = 1000;

function casesFor(suite: Suite, options: TestEngineOptions): CaseDefinition[] {
  switch (suite) {
    case 'ping':
      return [pingCase];
    case 'analyze':
      return [analyzeCase];
    case 'all':
      return conformanceSuite();
    case 'bounty': {
      const bounty = options.bounty ?? {};
      const what = bounty.payload ? 'payload' : describeArtifact(bounty.artifact);
      const phase = bounty.phase === 'arbitration' ? ' (arbitration → Vote)' : '';
      return [{ name: `bounty: ${what}${phase}`, run: (ctx) => runBountyCase(ctx, bounty) }];
    }
    default:
      throw new UsageError(`unknown suite ${JSON.stringify(suite)}; expected ping, bounty, analyze or all`);
  }
}

function describeArtifact(artifact: NonNullable<TestEngineOptions['bounty']>['artifact']): string {
  if (artifact === undefined || artifact === 'eicar') return 'EICAR';
  if (artifact === 'benign') return 'benign file';
  if ('file' in artifact) return artifact.file;
  if ('bytes' in artifact) return `${artifact.bytes.byteLength} bytes`;
  if ('artifactUrl' in artifact) return artifact.artifactUrl;
  return `URL artifact ${artifact.urlArtifact}`;
}

async function runCase(shared: RunContext, definition: CaseDefinition): Promise<CaseResult> {
  const started = performance.now();
  // Cases run at once: each trace line says which case it belongs to.
  const trace = shared.trace;
  const ctx: RunContext = trace ? { ...shared, trace: (line) => trace(`[${definition.name}] ${line}`) } : shared;
  let out: CaseOutcome;
  try {
    out = await definition.run(ctx);
  } catch (error) {
    if (!(error instanceof CaseRequestError)) throw error;
    out = { messages: [error.message], warnings: [] };
  }
  const ms = Math.round(performance.now() - started);
  const result: CaseResult = { name: definition.name, ok: out.messages.length === 0, ms, messages: out.messages, warnings: out.warnings };
  if (out.answer !== undefined) result.answer = out.answer;
  return result;
}

/**
 * Runs a suite of simulated PolySwarm events against an engine at `options.url`, as `polyswarm-engine test` does:
 * signs and sends each event, serves the artifacts and receives the answers on 127.0.0.1 (or on `listenHost`,
 * advertised to the engine as `advertiseHost`), and checks what comes back. Resolves with a report (a failing check is `ok: false`, not an exception). Throws UnreachableError when
 * the engine does not answer at all, and UsageError for options that cannot be run (e.g. an invalid bounty).
 *
 * ```ts
 * const report = await testEngine({ url, secret, suite: 'bounty', bounty: { artifact: 'eicar' } });
 * expect(report.ok).toBe(true);
 * ```
 */
export async function testEngine(options: TestEngineOptions): Promise<TestReport> {
  const url = parseEngineUrl(options.url);
  if (!options.secret) throw new UsageError('a webhook secret is required to sign the events');
  const cases = casesFor(options.suite ?? 'bounty', options);
  const host = new SimulatorHost({ listenHost: options.listenHost, advertiseHost: options.advertiseHost, port: options.callbackPort });
  await host.start();
  const ctx: RunContext = {
    url,
    secret: options.secret,
    secretSource: options.secretSource,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    expirationMs: options.expirationMs ?? options.bounty?.expirationMs ?? DEFAULT_EXPIRATION_MS,
    settleMs: SETTLE_MS,
    host,
    trace: options.trace,
    engine: { reached: false },
  };
  const results: CaseResult[] = [];
  const report = (result: CaseResult) => {
    results.push(result);
    options.onCase?.(result);
  };
  try {
    options.onListening?.({ url: host.baseUrl, listen: host.listenAddress, isDefault: host.isDefault });
    if (options.bail) {
      for (const definition of cases) {
        const result = await runCase(ctx, definition);
        report(result);
        if (!result.ok) break;
      }
    } else {
      // The first case alone (it tells "unreachable" from "failing"); the rest at once, reported in order,
      // since most of them wait on an engine's scan and a late answer.
      const first = await runCase(ctx, cases[0]);
      report(first);
      // A failed ping means what answered is no engine of ours (another server, a wrong secret): the other cases
      // would fail for the same reason, each after its own wait.
      if (!first.ok && cases[0] === pingCase) return finish(results, cases.length);
      const pending = cases.slice(1).map((definition) => runCase(ctx, definition));
      // Keep every rejection handled even if an earlier one is thrown first.
      for (const p of pending) p.catch(() => undefined);
      for (const p of pending) report(await p);
    }
  } finally {
    await host.close();
  }
  return finish(results, cases.length);
}

function finish(results: CaseResult[], planned: number): TestReport {
  const passed = results.filter((r) => r.ok).length;
  const report: TestReport = { ok: passed === results.length, passed, failed: results.length - passed, cases: results };
  if (results.length < planned) report.notRun = planned - results.length;
  return report;
}
