import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { asTyped, cliCommand, detectPackageManager } from '../../../src/util/invocation.js';

const tmp = mkdtempSync(join(tmpdir(), 'pse-invocation-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
// A checkout: bin/polyswarm-engine.js beside a package.json.
const clone = join(tmp, 'polyswarm-engine');
mkdirSync(join(clone, 'bin'), { recursive: true });
writeFileSync(join(clone, 'package.json'), '{"name":"polyswarm-engine"}');
const bin = join(clone, 'bin', 'polyswarm-engine.js');

describe('cliCommand: the command that runs this CLI where the user stands', () => {
  it('from a clone: node and the path to bin/polyswarm-engine.js, relative when shorter', () => {
    expect(cliCommand(bin, {}, clone)).toBe('node bin/polyswarm-engine.js');
    expect(cliCommand(bin, {}, join(clone, 'docs'))).toBe('node ../bin/polyswarm-engine.js');
    expect(cliCommand(bin, {}, '/usr/share')).toBe(`node ${bin}`);
  });

  it("as a project's dependency or from npx's cache: the package manager's runner", () => {
    const dependency = '/home/me/my-engine/node_modules/.bin/polyswarm-engine';
    expect(cliCommand(dependency, {}, '/home/me/my-engine')).toBe('npx polyswarm-engine');
    expect(cliCommand(dependency, { npm_config_user_agent: 'pnpm/9.12.0 npm/? node/v20.20.2 linux x64' })).toBe(
      'pnpm exec polyswarm-engine',
    );
    expect(cliCommand(dependency, { npm_config_user_agent: 'yarn/1.22.22 npm/? node/v20.20.2 linux x64' })).toBe('yarn polyswarm-engine');
    expect(cliCommand('/home/me/.npm/_npx/1a2b/node_modules/polyswarm-engine/bin/polyswarm-engine.js', {})).toBe('npx polyswarm-engine');
  });

  it('a global install or npm link: the bare name', () => {
    expect(cliCommand('/usr/local/bin/polyswarm-engine', {})).toBe('polyswarm-engine');
    expect(cliCommand('', {})).toBe('polyswarm-engine');
    expect(detectPackageManager({})).toBe('npm');
  });

  it('asTyped replaces the command in command position only', () => {
    const cmd = 'node bin/polyswarm-engine.js';
    expect(asTyped('npx polyswarm-engine init my-engine', cmd)).toBe('node bin/polyswarm-engine.js init my-engine');
    expect(asTyped("printf '' | polyswarm-engine sign -   # a ping's empty body", cmd)).toBe(
      "printf '' | node bin/polyswarm-engine.js sign -   # a ping's empty body",
    );
    expect(asTyped('-H "X-POLYSWARM-SIGNATURE: $(polyswarm-engine sign bounty.json)"', cmd)).toBe(
      '-H "X-POLYSWARM-SIGNATURE: $(node bin/polyswarm-engine.js sign bounty.json)"',
    );
    expect(asTyped('npm run demo', cmd)).toBe('npm run demo');
    expect(asTyped('see polyswarm-engine-demo-x and polyswarm-engine.js', cmd)).toBe('see polyswarm-engine-demo-x and polyswarm-engine.js');
  });
});
