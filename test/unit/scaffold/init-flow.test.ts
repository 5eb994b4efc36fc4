/**
 * `init`'s answers: flags, defaults with --yes, a usage error listing the missing flags without a terminal,
 * and the real @inquirer prompts driven through injected streams.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { resolveInitAnswers } from '../../../src/scaffold/init.js';
import { UsageError } from '../../../src/util/errors.js';
import { createPrompter, isInteractive } from '../../../src/util/prompts.js';
import { until } from '../../helpers/poll.js';

const cwd = '/home/me/work';

describe('isInteractive', () => {
  it('needs both terminals and no CI', () => {
    const tty = { isTTY: true };
    expect(isInteractive({}, tty, tty)).toBe(true);
    expect(isInteractive({ CI: '1' }, tty, tty)).toBe(false);
    expect(isInteractive({ CI: 'true' }, tty, tty)).toBe(false);
    expect(isInteractive({ CI: 'false' }, tty, tty)).toBe(true);
    expect(isInteractive({}, {}, tty)).toBe(false);
    expect(isInteractive({}, tty, {})).toBe(false);
  });
});

describe('resolveInitAnswers without a terminal', () => {
  it('lists every missing flag in one usage error', async () => {
    const error = await resolveInitAnswers({}, { interactive: false, cwd }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toBe(
      'init: missing values and no terminal to ask on:\n' +
        '  [dir]  the folder to create, e.g. my-engine\n' +
        '  --template <typescript|javascript|clamav|yara>  the project template',
    );
    expect((error as UsageError).hint).toContain('--yes to accept the defaults');
  });

  it('names only what is missing', async () => {
    await expect(resolveInitAnswers({ dir: 'x' }, { interactive: false, cwd })).rejects.toThrow(
      /missing a value and no terminal to ask on:\n {2}--template <typescript\|javascript\|clamav\|yara> {2}the project template$/,
    );
  });

  it('takes defaults with --yes: my-engine, typescript, the folder name as package name', async () => {
    expect(await resolveInitAnswers({ yes: true }, { interactive: false, cwd })).toEqual({
      dir: 'my-engine',
      template: 'typescript',
      name: 'my-engine',
    });
    expect(await resolveInitAnswers({ yes: true, dir: 'Acme Engine' }, { interactive: false, cwd })).toEqual({
      dir: 'Acme Engine',
      template: 'typescript',
      name: 'acme-engine',
    });
    expect(await resolveInitAnswers({ yes: true, dir: '.' }, { interactive: false, cwd })).toMatchObject({ name: 'work' });
  });

  it('needs nothing more when the folder and template are given', async () => {
    expect(await resolveInitAnswers({ dir: 'e', template: 'clamav', name: '@acme/e' }, { interactive: false, cwd })).toEqual({
      dir: 'e',
      template: 'clamav',
      name: '@acme/e',
    });
  });

  it('rejects an unknown template and a bad --name up front, with a suggestion', async () => {
    await expect(resolveInitAnswers({ dir: 'e', template: 'go' }, { interactive: false, cwd })).rejects.toMatchObject({
      message: 'unknown template "go"',
      exitCode: 2,
    });
    await expect(resolveInitAnswers({ yes: true, name: 'Acme' }, { interactive: false, cwd })).rejects.toMatchObject({
      message: '"Acme" is not a valid npm package name: it must be lowercase',
      hint: 'Try --name acme',
      exitCode: 2,
    });
  });
});

/** A fake terminal: keys typed into `input`, everything drawn collected from `output`. */
function terminal() {
  const input = new PassThrough();
  const output = new PassThrough();
  let screen = '';
  output.on('data', (chunk: Buffer) => {
    screen += chunk.toString('utf8');
  });
  /** Waits (with a deadline) until `text` has been drawn since the last call, then types `keys`. */
  let seen = 0;
  async function answer(text: string, keys: string[]): Promise<void> {
    await until(() => screen.indexOf(text, seen) !== -1, `prompt "${text}"`, { detail: () => `screen so far:\n${screen}` });
    seen = screen.indexOf(text, seen) + text.length;
    for (const key of keys) {
      input.write(key);
      // A turn of the event loop: the prompt reads the key before the next one comes, as from a typist.
      await new Promise((r) => setImmediate(r));
    }
  }
  return { input, output, answer, screen: () => screen };
}

const ENTER = '\r';
const DOWN = '\x1b[B';

describe('resolveInitAnswers on a terminal (real prompts, injected streams)', () => {
  it('asks for the folder, template and package name, offering defaults', async () => {
    const t = terminal();
    const answers = resolveInitAnswers({}, { interactive: true, prompter: createPrompter(t), cwd });
    await t.answer('Project folder', [...'Acme Scanner', ENTER]);
    await t.answer('Template', [DOWN, DOWN, ENTER]);
    // The name is prefilled from the folder; accepting it takes Enter.
    await t.answer('Package name', [ENTER]);
    expect(await answers).toEqual({ dir: 'Acme Scanner', template: 'clamav', name: 'acme-scanner' });
    expect(t.screen()).toContain('a real engine that runs ClamAV');
  });

  it('asks only what the flags left open, and re-asks an invalid package name', async () => {
    const t = terminal();
    const answers = resolveInitAnswers({ dir: 'x', template: 'javascript' }, { interactive: true, prompter: createPrompter(t), cwd });
    await t.answer('Package name', [...'\x7f', ...'Bad Name', ENTER]);
    await t.answer('Not a valid npm name', ['\x15', ...'good-name', ENTER]);
    expect(await answers).toEqual({ dir: 'x', template: 'javascript', name: 'good-name' });
    expect(t.screen()).not.toContain('Template');
  });

  it('asks nothing with --yes even on a terminal', async () => {
    const t = terminal();
    expect(await resolveInitAnswers({ yes: true, dir: 'z' }, { interactive: true, prompter: createPrompter(t), cwd })).toEqual({
      dir: 'z',
      template: 'typescript',
      name: 'z',
    });
    expect(t.screen()).toBe('');
  });
});
