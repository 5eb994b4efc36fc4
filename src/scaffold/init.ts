/**
 * `polyswarm-engine init`'s flow: settle the answers (flags, then prompts, then defaults), scaffold, install,
 * git, and the three commands to type next. The command file only wires options and streams to this.
 */
import { basename, resolve } from 'node:path';
import { UsageError } from '../util/errors.js';
import { missingValuesError, type MissingValue, type Prompter } from '../util/prompts.js';
import { engineDependency, type EngineDependency } from './dependency.js';
import { initGitRepository, type GitOutcome } from './git.js';
import { detectPackageManager, installDependencies, PACKAGE_MANAGERS, runScriptCommand, type PackageManager } from './install.js';
import { checkPackageName, suggestPackageName } from './package-name.js';
import { assertValidName, displayPath, scaffoldProject, validTemplate, type ScaffoldResult } from './scaffold.js';
import { DEFAULT_TEMPLATE, TEMPLATE_DESCRIPTIONS, TEMPLATE_NAMES, type TemplateName } from './templates.js';

/** The folder `--yes` creates when none is given. */
export const DEFAULT_DIR = 'my-engine';

export interface InitFlags {
  dir?: string;
  template?: string;
  name?: string;
  yes?: boolean;
  /** false with `--no-install`. */
  install?: boolean;
  /** false with `--no-git`. */
  git?: boolean;
  force?: boolean;
  packageManager?: string;
}

export interface InitAnswers {
  dir: string;
  template: TemplateName;
  name: string;
}

export interface AnswerContext {
  /** Whether questions may be asked (see `isInteractive`); when true, `prompter` must be given. */
  interactive: boolean;
  prompter?: Prompter;
  cwd?: string;
}

/**
 * Settles the folder, template and package name. Given flags win; with `--yes` the rest takes defaults;
 * on a terminal the rest is asked; otherwise a UsageError lists the missing flags (exit 2).
 * The package name is never "missing": it defaults to the folder's name.
 */
export async function resolveInitAnswers(flags: InitFlags, context: AnswerContext): Promise<InitAnswers> {
  const cwd = context.cwd ?? process.cwd();
  if (flags.template !== undefined) validTemplate(flags.template);
  if (flags.name !== undefined) assertValidName(flags.name);
  const ask = !flags.yes && context.interactive;
  if (!flags.yes && !context.interactive) {
    const missing: MissingValue[] = [];
    if (flags.dir === undefined) missing.push({ flag: '[dir]', description: 'the folder to create, e.g. my-engine' });
    if (flags.template === undefined)
      missing.push({ flag: `--template <${TEMPLATE_NAMES.join('|')}>`, description: 'the project template' });
    if (missing.length > 0) throw missingValuesError('init', missing, '--yes');
  }
  const prompter = context.prompter;
  if (ask && !prompter) throw new Error('resolveInitAnswers: interactive without a prompter');

  // A text answer asked on a terminal, else the default.
  const askText = async (message: string, fallback: string, validate: (value: string) => string | true) =>
    ask ? (await prompter!.text({ message, default: fallback, validate })).trim() : fallback;

  const dir =
    flags.dir ?? (await askText('Project folder', DEFAULT_DIR, (v) => (v.trim() === '' ? 'Give a folder name, e.g. my-engine' : true)));
  const template =
    flags.template !== undefined
      ? validTemplate(flags.template)
      : ask
        ? await prompter!.select<TemplateName>({
            message: 'Template',
            choices: TEMPLATE_NAMES.map((value) => ({ value, name: value, description: TEMPLATE_DESCRIPTIONS[value] })),
            default: DEFAULT_TEMPLATE,
          })
        : DEFAULT_TEMPLATE;
  // The folder's basename, made valid (`My Engine` → `my-engine`).
  const suggested = suggestPackageName(basename(resolve(cwd, dir)));
  const name =
    flags.name ??
    (await askText('Package name', suggested, (v) => {
      const check = checkPackageName(v.trim());
      return check.valid ? true : `Not a valid npm name: it ${check.problems.join('; it ')} (try ${check.suggestion})`;
    }));
  return { dir, template, name };
}

export interface InitIO {
  /** Progress and diagnostics (stderr). */
  progress: (line: string) => void;
  /** Install output, shown dimmed. */
  installLine?: (line: string) => void;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** How often to say the install is still running (default 5 s). */
  heartbeatMs?: number;
}

export interface InitSummary {
  answers: InitAnswers;
  scaffold: ScaffoldResult;
  dependency: EngineDependency;
  packageManager: PackageManager;
  installed: boolean;
  git: GitOutcome | null;
  /** The three commands to type next. */
  next: string[];
  /** What the template needs besides (e.g. ClamAV's signatures), said after the commands. */
  notes: string[];
}

/**
 * ClamAV's MD5 signature format (`.hdb`: md5:size:name) for the 68-byte EICAR test file: clamscan loads it in
 * milliseconds, with no download (templates/clamav/README.md gives the same recipe).
 */
export const EICAR_HDB_COMMAND = "echo '44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature' > eicar.hdb";

/** What a template needs outside npm before its engine can answer (shown after the next commands). */
export const TEMPLATE_NOTES: Partial<Record<TemplateName, string[]>> = {
  clamav: [
    'ClamAV needs signatures before it can judge anything (until then every file bounty is answered unknown).',
    'Offline, or until `sudo freshclam` has run, a one-line database that knows the EICAR test file will do:',
    `  ${EICAR_HDB_COMMAND}`,
    '  echo "CLAMAV_DATABASE=$PWD/eicar.hdb" >> .env',
    'Then `sudo freshclam` for the real signatures (drop CLAMAV_DATABASE again); README.md, "ClamAV".',
  ],
};

/** Scaffolds the project, then installs and commits as asked. Install failure throws (after the project is written). */
export async function initProject(answers: InitAnswers, flags: InitFlags, io: InitIO): Promise<InitSummary> {
  const cwd = io.cwd ?? process.cwd();
  const env = io.env ?? process.env;
  const pmFlag = flags.packageManager;
  if (pmFlag !== undefined && !(PACKAGE_MANAGERS as readonly string[]).includes(pmFlag)) {
    throw new UsageError(`unknown package manager "${pmFlag}"`, { hint: `Choose one of: ${PACKAGE_MANAGERS.join(', ')}.` });
  }
  const pm = (pmFlag as PackageManager | undefined) ?? detectPackageManager(env);
  const dependency = engineDependency({ env, cwd });
  const target = resolve(cwd, answers.dir);
  const shown = displayPath(target, cwd);

  const scaffold = await scaffoldProject({
    template: answers.template,
    targetDir: target,
    packageName: answers.name,
    dependency: dependency.spec,
    force: flags.force,
  });
  // Said once the files are written (it takes milliseconds): a refusal (a non-empty folder) is then the only line.
  io.progress(`Creating a ${answers.template} engine in ${shown} (package ${answers.name})…`);
  const from = {
    env: `from $POLYSWARM_ENGINE_DEPENDENCY`,
    checkout: 'this checkout, unpublished',
    local: 'the local package this CLI was installed from',
    registry: 'the npm registry',
  }[dependency.source];
  io.progress(`  polyswarm-engine dependency: ${dependency.spec} (${from})`);
  const envNote = scaffold.wroteEnv
    ? scaffold.completed.includes('.env')
      ? 'added a new random WEBHOOK_SECRET to your .env'
      : 'including .env with a new random WEBHOOK_SECRET (git-ignored)'
    : 'kept your existing .env';
  io.progress(`  wrote ${scaffold.files.length - scaffold.completed.length} files, ${envNote}`);
  const keptOthers = scaffold.kept.filter((f) => f !== '.env');
  const completed = scaffold.completed.filter((f) => f !== '.env');
  if (completed.length > 0) io.progress(`  added what was missing to your ${completed.join(', ')} (nothing removed)`);
  if (keptOthers.length > 0) io.progress(`  kept your ${keptOthers.join(', ')} as they were (the template's versions were not written)`);

  let installed = false;
  if (flags.install !== false) {
    io.progress(`Installing dependencies with ${pm}…`);
    // npm prints nothing until it is done (often 15–30 s): say that it is still working.
    const started = Date.now();
    const heartbeat = setInterval(
      () => io.progress(`  still installing… (${Math.round((Date.now() - started) / 1000)} s)`),
      io.heartbeatMs ?? 5000,
    );
    try {
      await installDependencies(target, pm, { onLine: io.installLine, env });
    } finally {
      clearInterval(heartbeat);
    }
    io.progress(`  installed in ${Math.round((Date.now() - started) / 1000)} s`);
    installed = true;
  }

  let git: GitOutcome | null = null;
  if (flags.git !== false) {
    git = await initGitRepository(target);
    if (git.status === 'committed') io.progress('Created a git repository with a first commit (.env is not in it).');
    else if (git.status === 'failed') io.progress(`Could not create the git repository: ${git.message}`);
    else if (git.reason === 'inside-repository') io.progress('Already inside a git repository: no new one created.');
    else io.progress('git not found: no repository created.');
  }

  const next: string[] = [];
  if (shown !== '.') next.push(`cd ${/\s/.test(shown) ? JSON.stringify(shown) : shown}`);
  if (!installed) next.push(`${pm} install`);
  next.push(runScriptCommand(pm, 'dev'));
  next.push(runScriptCommand(pm, 'test:engine'));
  next.push(runScriptCommand(pm, 'test').replace(' run test', ' test'));
  return {
    answers,
    scaffold,
    dependency,
    packageManager: pm,
    installed,
    git,
    next: next.slice(0, 3),
    notes: TEMPLATE_NOTES[answers.template] ?? [],
  };
}
