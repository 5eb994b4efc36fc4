/** `polyswarm-engine test replay FILE`: a recording sent again, its verdicts diffed (simulator/replay.ts). */
import { resolve } from 'node:path';
import { defineCommand, duration, flag, integer, text } from './define.js';
import { cwdOption } from './engine-options.js';

export const testReplay = defineCommand({
  name: 'replay',
  description: 'send recorded bounties to an engine and diff its verdicts against the recorded ones',
  args: [
    {
      name: '[files...]',
      description:
        'a recording (start --record) or an inspector JSONL export; with a Redis queue, the web process’s and the workers’ recordings together',
    },
  ],
  options: {
    url: text('-u, --url <url>', 'engine webhook URL', {
      defaultLabel: 'the running `serve`, else boot this project, else http://127.0.0.1:3000/',
    }),
    secret: text('--secret <secret>', 'webhook secret of the target engine (bounties are re-signed with it)', {
      defaultLabel: "$WEBHOOK_SECRET, then WEBHOOK_SECRET in the project's .env",
    }),
    exact: flag('--exact', 'send the recorded bytes and signature unchanged (no rewriting; the answer goes to the recorded response_url)'),
    artifacts: text('--artifacts <dir>', 'folder of recorded artifacts (start --record-artifacts); bounties without theirs are skipped'),
    concurrency: integer('-c, --concurrency <n>', 'bounties in flight at once', { min: 1, max: 1000, defaultValue: 8 }),
    rate: integer('--rate <n>', 'bounties started per second', { min: 1, max: 100_000 }),
    timeout: duration('--timeout <duration>', 'how long to wait for the engine to acknowledge each bounty', {
      defaultValue: 10_000,
      defaultLabel: '10s',
    }),
    json: flag('--json', 'print the diff as one JSON object'),
    failOnChange: flag('--fail-on-change', 'exit 1 when a verdict changed'),
    cwd: cwdOption(),
  },
  examples: [
    'polyswarm-engine test replay deliveries.jsonl --artifacts ./artifacts',
    'polyswarm-engine test replay deliveries.jsonl --artifacts ./artifacts --url http://127.0.0.1:8080/ --secret … --fail-on-change',
    'polyswarm-engine test replay web.jsonl worker-*.jsonl --artifacts ./artifacts',
  ],
  async run({ args, options }) {
    const { UsageError, ExitCode } = await import('../util/errors.js');
    const { readRecording, replayRecording, formatEntry, formatCounts } = await import('../simulator/replay.js');
    const { resolveTarget } = await import('../simulator/target.js');
    if (args.length === 0) throw new UsageError('which recording? `polyswarm-engine test replay FILE…`');
    const files = args.map((f) => resolve(options.cwd, f));
    // A file that is not a recording is a usage error before any engine is booted or reached.
    readRecording(files);
    const target = await resolveTarget({ url: options.url, secret: options.secret, cwd: options.cwd });
    try {
      const out = process.stdout;
      if (!options.json)
        process.stderr.write(`Replaying ${args.join(' + ')} to ${target.description} (secret from ${target.secretSource})\n`);
      const report = await replayRecording({
        file: files,
        url: target.url,
        secret: target.secret,
        exact: options.exact,
        artifactsDir: options.artifacts === undefined ? undefined : resolve(options.cwd, options.artifacts),
        concurrency: options.concurrency,
        rate: options.rate,
        timeoutMs: options.timeout,
        onEntry: options.json ? undefined : (entry) => out.write(formatEntry(entry)),
      });
      out.write(
        options.json
          ? `${JSON.stringify({ files: args, url: target.url, counts: report.counts, bounties: report.entries })}\n`
          : formatCounts(report),
      );
      return options.failOnChange && report.counts.changed > 0 ? ExitCode.CHECK_FAILED : ExitCode.OK;
    } finally {
      await target.stop();
    }
  },
});
