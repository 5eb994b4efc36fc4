/** `polyswarm-engine test load`: capacity, a stream of bounties for a while (simulator/load.ts). */
import { resolve } from 'node:path';
import { ExitCode, UsageError } from '../util/errors.js';
import { defineCommand, duration, integer, text, type OptionValues } from './define.js';
import { expirationOption, streamSettings, streamOptions } from './test-options.js';

/** Bounties in flight when neither --rate nor --concurrency is given (autocannon's default connections). */
const DEFAULT_CONCURRENCY = 10;

function loadFlags() {
  return streamOptions({
    rate: integer('--rate <n>', 'bounties per second (open loop)', { min: 1, max: 100_000 }),
    concurrency: integer('--concurrency <n>', 'bounties in flight at once (closed loop: the next is sent when one is answered)', {
      min: 1,
      max: 10_000,
      defaultLabel: `${DEFAULT_CONCURRENCY} when --rate is not given`,
    }),
    duration: duration('--duration <duration>', 'how long to send bounties', { defaultValue: 30_000, defaultLabel: '30s', min: 1 }),
    artifact: text('--artifact <eicar|benign|file>', 'the artifact every bounty carries', { defaultValue: 'eicar' }),
    expiration: expirationOption(),
  });
}

export const testLoad = defineCommand({
  name: 'load',
  description: 'send bounties at a rate (or N at once) for a while: latencies, throughput, and answers lost or repeated',
  options: loadFlags(),
  examples: [
    'polyswarm-engine test load --duration 10s',
    'polyswarm-engine test load --rate 50 --duration 30s',
    'polyswarm-engine test load --concurrency 16 --duration 1m --artifact benign --url http://127.0.0.1:8080/ --secret qwertyuiop',
  ],
  epilog: '\nExit 1 when an accepted bounty went unanswered or was answered twice.\n',
  run: ({ options }) => runLoadCommand(options),
});

async function runLoadCommand(options: OptionValues<ReturnType<typeof loadFlags>>): Promise<number> {
  const { runLoad } = await import('../simulator/load.js');
  const { formatLoadReport, loadJson, progressLine } = await import('../simulator/load-report.js');
  const { resolveTarget } = await import('../simulator/target.js');
  const { theme } = await import('../util/logger.js');
  if (options.rate !== undefined && options.concurrency !== undefined) throw new UsageError('choose --rate or --concurrency, not both');
  // Neither given: a closed loop of DEFAULT_CONCURRENCY, as autocannon's 10 connections, which one machine sustains.
  const defaulted = options.rate === undefined && options.concurrency === undefined;
  const concurrency = defaulted ? DEFAULT_CONCURRENCY : options.concurrency;
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
      concurrency,
      durationMs: options.duration,
      artifact,
      ...streamSettings(options),
      onListening: () => {
        if (!options.json)
          err.write(
            `${theme.dim('Load testing')} ${target.description} ${theme.dim(`(secret from ${target.secretSource})`)}${
              defaulted ? theme.dim(`, ${DEFAULT_CONCURRENCY} bounties in flight (the default; --rate N or --concurrency N to choose)`) : ''
            }\n`,
          );
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
