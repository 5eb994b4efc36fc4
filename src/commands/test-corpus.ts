/** `polyswarm-engine test corpus DIR`: accuracy over labelled files (simulator/corpus.ts). */
import { resolve } from 'node:path';
import { ExitCode, UsageError } from '../util/errors.js';
import { defineCommand, integer, text, type OptionValues } from './define.js';
import { expirationOption, streamSettings, OUTPUT_GROUP, streamOptions } from './test-options.js';

function corpusFlags() {
  return streamOptions({
    concurrency: integer('--concurrency <n>', 'files in flight at once', { min: 1, max: 1000, defaultValue: 4 }),
    labels: text(
      '--labels <file.csv>',
      'label the files with a CSV of "path or sha256,malicious|benign" instead of malicious/ and benign/ subfolders',
    ),
    junit: text('--junit <file>', 'also write JUnit XML, one test case per file', { group: OUTPUT_GROUP }),
    html: text('--html <file>', 'also write a self-contained HTML report (matrix, rates, latency chart)', { group: OUTPUT_GROUP }),
    minDetection: text('--min-detection <percent>', 'exit 1 when fewer malicious files are answered malicious, e.g. 95'),
    maxFalsePositives: text('--max-false-positives <percent>', 'exit 1 when more benign files are answered malicious, e.g. 1'),
    expiration: expirationOption(),
  });
}

export const testCorpus = defineCommand({
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
      ...streamSettings(options),
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
    // Without a gate, a run with every file answered once has passed nothing: say so, rather than "passed".
    const gated = minDetection !== undefined || maxFalsePositives !== undefined;
    const verdict = gated
      ? `${theme.pass} corpus passed`
      : `${theme.pass} every file answered, once; no gate set (--min-detection, --max-false-positives)`;
    const gates = { minDetection: minDetection ?? null, maxFalsePositives: maxFalsePositives ?? null };
    if (options.json)
      process.stdout.write(corpusJson(report, { url: target.url, dir: corpusDir, ok: failures.length === 0, gates, failures }));
    else
      process.stdout.write(
        formatCorpusReport(report) + (failures.length === 0 ? `\n${verdict}\n` : `\n${failures.map((f) => theme.fail(f)).join('\n')}\n`),
      );
    return failures.length === 0 ? ExitCode.OK : ExitCode.CHECK_FAILED;
  } finally {
    await target.stop();
  }
}
