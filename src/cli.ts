/**
 * The commander program. This file only declares commands and flags; every action lazily imports
 * `./commands/<name>.js`, so `polyswarm-engine --help` loads nothing but commander. It is also the
 * one place that turns errors into exit codes (see `util/errors.ts` and the README's table).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CliError, ExitCode } from './util/errors.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

/** What every command module exports: a thin action, resolving to an exit code (0 when void). */
export type CommandRun<O = Record<string, unknown>> = (
  args: string[],
  options: O,
  /** The (sub)command's name, e.g. `ping` for `test ping`. */
  name: string,
) => Promise<number | void>;

function integer(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`${name} must be a whole number.`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}.`);
    return n;
  };
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}

/** Runs `./commands/<name>.js` (loaded only now) and records its exit code. */
function action(name: string) {
  return async (...params: unknown[]) => {
    const command = params[params.length - 1] as Command;
    const options = command.optsWithGlobals();
    const args = command.processedArgs.filter((a) => a !== undefined).flat() as string[];
    const mod = (await import(`./commands/${name}.js`)) as { run: CommandRun };
    const code = await mod.run(args, options, command.name());
    process.exitCode = typeof code === 'number' ? code : ExitCode.OK;
  };
}

const portOption = () =>
  new Option('-p, --port <port>', 'port to listen on (0 picks a free one)').argParser(integer('--port', 0, 65535));
const hostOption = (fallback: string) => new Option('--host <host>', 'interface to bind').default(fallback);
const secretOption = () =>
  new Option('--secret <secret>', 'webhook secret (default: $WEBHOOK_SECRET, then WEBHOOK_SECRET in .env)');
const concurrencyOption = () =>
  new Option('-c, --concurrency <n>', 'scans running at once (default: number of CPUs)').argParser(
    integer('--concurrency', 1, 10_000),
  );
const queueOption = () =>
  new Option('--queue <url>', 'Redis URL for a shared queue, e.g. redis://127.0.0.1:6379/0 (default: embedded)').env(
    'POLYSWARM_QUEUE_URL',
  );
const cwdOption = () => new Option('--cwd <dir>', 'engine project folder').default(process.cwd(), 'current folder');

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('polyswarm-engine')
    .description('Build, run and test PolySwarm webhook microengines.')
    .version(pkg.version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ sortSubcommands: false, showGlobalOptions: false })
    .addHelpText(
      'after',
      examples([
        'npx polyswarm-engine init my-engine',
        'polyswarm-engine serve',
        'polyswarm-engine test bounty --eicar',
        'polyswarm-engine test all --url http://127.0.0.1:8080/ --secret qwertyuiop',
      ]) + '\nExit codes: 0 ok, 1 a check failed, 2 usage error, 3 engine unreachable, 130 interrupted.\n',
    );

  program
    .command('init')
    .description('scaffold a new engine project')
    .argument('[dir]', 'folder to create')
    .addOption(new Option('-t, --template <name>', 'project template').choices(['typescript', 'javascript', 'clamav']))
    .option('--name <name>', 'npm package name (default: the folder name)')
    .option('-y, --yes', 'accept defaults for everything not given')
    .option('--no-install', 'do not install dependencies')
    .option('--no-git', 'do not create a git repository')
    .option('-f, --force', 'write into a non-empty folder')
    .addOption(new Option('--package-manager <pm>', 'package manager to install with').choices(['npm', 'pnpm', 'yarn']))
    .addHelpText(
      'after',
      examples([
        'npx polyswarm-engine init my-engine',
        'npx polyswarm-engine init my-engine --template clamav --yes',
        'npx polyswarm-engine init . --template javascript --name acme-engine --no-install --force',
      ]),
    )
    .action(action('init'));

  program
    .command('demo')
    .description('scaffold a throwaway engine, run it and run the conformance suite against it')
    .addHelpText('after', examples(['npm run demo', 'npx polyswarm-engine demo']))
    .action(action('demo'));

  program
    .command('serve')
    .description('run the engine in this project for development, reloading src/ on save')
    .addOption(portOption().default(3000))
    .addOption(hostOption('127.0.0.1'))
    .addOption(secretOption())
    .addOption(concurrencyOption())
    .option('--no-watch', 'do not reload on file changes')
    .addOption(queueOption())
    .addOption(cwdOption())
    .addHelpText(
      'after',
      examples(['polyswarm-engine serve', 'polyswarm-engine serve --port 8080 --no-watch', 'polyswarm-engine serve --port 0']),
    )
    .action(action('serve'));

  program
    .command('start')
    .description('run the engine in production (JSON logs with LOG_FORMAT=json, strict server timeouts)')
    .addOption(portOption().default(3000).env('PORT'))
    .addOption(hostOption('127.0.0.1').env('HOST'))
    .addOption(secretOption())
    .addOption(concurrencyOption())
    .addOption(queueOption())
    .option('--with-worker', 'with --queue: also run scan workers in this process')
    .addOption(cwdOption())
    .addHelpText(
      'after',
      examples([
        'WEBHOOK_SECRET=... polyswarm-engine start --host 0.0.0.0 --port 8080',
        'polyswarm-engine start --queue redis://127.0.0.1:6379',
      ]),
    )
    .action(action('start'));

  program
    .command('worker')
    .description('process bounties from a Redis queue (run as many as you need)')
    .addOption(
      new Option('--queue <url>', 'Redis URL of the queue the web process fills, e.g. redis://127.0.0.1:6379/0 (required)').env(
        'POLYSWARM_QUEUE_URL',
      ),
    )
    .addOption(concurrencyOption())
    .addOption(cwdOption())
    .addHelpText('after', examples(['polyswarm-engine worker --queue redis://127.0.0.1:6379 --concurrency 8']))
    .action(action('worker'));

  const test = program
    .command('test')
    .description('send signed simulated events to an engine and check what it answers')
    .addHelpText(
      'after',
      examples([
        'polyswarm-engine test ping',
        'polyswarm-engine test bounty --eicar',
        'polyswarm-engine test bounty --file ./sample.exe --expect malicious',
        'polyswarm-engine test analyze',
        'polyswarm-engine test all --url http://127.0.0.1:8080/ --secret qwertyuiop --junit report.xml',
        'polyswarm-engine test all --url http://127.0.0.1:8080/ --listen-host 0.0.0.0 --advertise-host host.docker.internal   # engine in Docker',
      ]),
    );
  const common = (cmd: Command) =>
    cmd
      .option('-u, --url <url>', 'engine webhook URL (default: the running `serve`, else boot this project, else http://127.0.0.1:3000/)')
      .addOption(secretOption())
      .option('--timeout <duration>', 'how long to wait for the engine to acknowledge', '10s')
      .option('--json', 'print one JSON object per case and a summary, nothing else')
      .option('-v, --verbose', 'show the signed bytes, requests and answers (never the secret)')
      .option('--junit <file>', 'also write a JUnit XML report')
      .option('--listen-host <addr>', "interface the simulator's artifact host and answer receiver bind to, e.g. 0.0.0.0 for an engine in Docker", '127.0.0.1')
      .option('--advertise-host <host>', 'host the engine reaches them at, put into artifact_uri and response_url, e.g. host.docker.internal or 172.17.0.1 (default: the listen host, 127.0.0.1 for 0.0.0.0/::)')
      .addOption(
        new Option('--callback-port <port>', 'port they bind, for a firewall rule or port mapping (default: 0, a free one)').argParser(
          integer('--callback-port', 0, 65535),
        ),
      )
      .addOption(cwdOption());
  common(test.command('ping').description('send a signed ping; passes on any 2xx')).action(action('test'));
  common(
    test
      .command('bounty')
      .description('send a bounty, serve its artifact, catch and check the answer')
      .option('--eicar', 'the EICAR test file (expects malicious; the default)')
      .option('--benign', 'a harmless text file (expects benign)')
      .option('--file <path>', 'a file of yours, served on loopback')
      .option('--artifact-url <url>', 'a FILE artifact downloaded from this URL instead of served locally')
      .option('--url-artifact <url>', 'a URL artifact (artifact_type "url") pointing at this address')
      .addOption(new Option('--phase <phase>', 'bounty phase').choices(['assertion', 'arbitration']).default('assertion'))
      .addOption(new Option('--expect <verdict>', 'verdict to expect').choices(['benign', 'malicious', 'suspicious', 'unknown', 'any']))
      .option('--set <path=value>', 'set a field of the bounty, e.g. rules.max_allowed_bid=10 (repeatable)', collect, [])
      .option('--payload <file>', 'send this JSON bounty as is ("-" for stdin); response_url is still pointed at the receiver')
      .option('--legacy', 'send v0 field names (guid, artifact_url)')
      .option('--expiration <duration>', 'time until the bounty expires', '30s')
      .option('--allow-invalid', 'send a bounty even when it is not valid (negative tests)'),
  ).action(action('test'));
  common(test.command('analyze').description('send an unsupported event; passes on 4xx if the engine keeps serving')).action(
    action('test'),
  );
  common(
    test
      .command('all')
      .description('run the conformance suite')
      .option('--expiration <duration>', 'time until each bounty expires', '30s')
      .option('--bail', 'stop at the first failing case'),
  ).action(action('test'));

  program
    .command('sign')
    .description('print the X-POLYSWARM-SIGNATURE of a body (exactly its bytes)')
    .argument('[file]', 'file to sign, or - for stdin', '-')
    .addOption(secretOption())
    .addHelpText(
      'after',
      examples([
        'polyswarm-engine sign bounty.json --secret qwertyuiop',
        "printf '' | polyswarm-engine sign -   # a ping's empty body",
        'curl -X POST http://127.0.0.1:3000/ -H "X-POLYSWARM-EVENT: bounty" \\\n      -H "X-POLYSWARM-SIGNATURE: $(polyswarm-engine sign bounty.json)" --data-binary @bounty.json',
      ]),
    )
    .action(action('sign'));

  program
    .command('check')
    .description('validate a bounty, assertion, vote or scan metadata JSON document')
    .argument('[file]', 'file to check, or - for stdin', '-')
    .addOption(new Option('--as <kind>', 'what the document is (default: detected)').choices(['assertion', 'vote', 'bounty', 'metadata']))
    .option('--json', 'print a machine-readable result')
    .addHelpText('after', examples(['polyswarm-engine check answer.json', 'cat bounty.json | polyswarm-engine check --as bounty']))
    .action(action('check'));

  return program;
}

function debugEnabled(): boolean {
  return /polyswarm/.test(process.env.DEBUG ?? '');
}

/** Maps anything thrown to a message and an exit code; the only place that decides them. */
export function reportError(error: unknown, stderr: NodeJS.WritableStream = process.stderr): number {
  if (error instanceof CommanderError) {
    // --help and --version exit 0; help shown because a subcommand is missing is a usage error.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return ExitCode.OK;
    if (error.code === 'commander.help') return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    // commander has already printed the message (and a suggestion) to stderr.
    return ExitCode.USAGE;
  }
  if (error instanceof CliError) {
    stderr.write(`Error: ${error.message}\n`);
    if (error.hint) stderr.write(`Hint: ${error.hint}\n`);
    if (debugEnabled() && error.stack) stderr.write(`${error.stack}\n`);
    return error.exitCode;
  }
  const name = (error as { name?: string } | null)?.name;
  if (name === 'ExitPromptError' || name === 'AbortPromptError') {
    stderr.write('Interrupted.\n');
    return ExitCode.INTERRUPTED;
  }
  const message = error instanceof Error ? error.message : String(error);
  stderr.write(`Error: ${message}\n`);
  if (debugEnabled() && error instanceof Error && error.stack) stderr.write(`${error.stack}\n`);
  else stderr.write('Hint: this is a bug in polyswarm-engine; run again with DEBUG=polyswarm for the stack.\n');
  return ExitCode.CHECK_FAILED;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  for (const cmd of program.commands) {
    cmd.exitOverride();
    for (const sub of cmd.commands) sub.exitOverride();
  }
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.OK;
  } catch (error) {
    return reportError(error);
  }
}

const isEntry = process.argv[1] !== undefined && /polyswarm-engine(\.js)?$|cli\.js$/.test(process.argv[1]);
if (isEntry) {
  const code = await main();
  process.exitCode = code;
  // A second Ctrl-C means now: the user's scans may hold timers that would keep the loop alive.
  if (code === ExitCode.INTERRUPTED) process.exit(code);
  // Safety net: if a handle keeps the loop alive after the command finished, do not hang the user's shell.
  setTimeout(() => {
    if (debugEnabled()) process.stderr.write('polyswarm-engine: open handles kept the process alive; exiting.\n');
    process.exit(code);
  }, 2000).unref();
}
