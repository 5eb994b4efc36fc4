import { existsSync, readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDemoProject } from '../../../src/scaffold/demo.js';
import { detectPackageManager, installCommand, runScriptCommand } from '../../../src/scaffold/install.js';
import { PACKAGE_ROOT } from '../../../src/scaffold/package-root.js';
import { templateFiles } from '../../../src/scaffold/templates.js';

describe('package managers', () => {
  it('follows the one that launched us, else npm', () => {
    expect(detectPackageManager({ npm_config_user_agent: 'pnpm/9.12.0 npm/? node/v20.20.2 linux x64' })).toBe('pnpm');
    expect(detectPackageManager({ npm_config_user_agent: 'yarn/1.22.22 npm/? node/v20.20.2 linux x64' })).toBe('yarn');
    expect(detectPackageManager({ npm_config_user_agent: 'npm/11.6.0 node/v20.20.2 linux x64' })).toBe('npm');
    expect(detectPackageManager({})).toBe('npm');
  });

  it('installs quietly with npm and plainly with the others', () => {
    expect(installCommand('npm')).toEqual(['npm', ['install', '--no-audit', '--no-fund']]);
    expect(installCommand('pnpm')).toEqual(['pnpm', ['install']]);
    expect(runScriptCommand('yarn', 'dev')).toBe('yarn run dev');
  });
});

describe('createDemoProject', () => {
  it('scaffolds the typescript template with polyswarm-engine linked to this package, and removes it all', async () => {
    const demo = await createDemoProject();
    try {
      expect(existsSync(join(demo.dir, 'src', 'scan.ts'))).toBe(true);
      for (const file of templateFiles('typescript')) expect(existsSync(join(demo.dir, file)), file).toBe(true);
      const link = join(demo.dir, 'node_modules', 'polyswarm-engine');
      expect(readlinkSync(link)).toBe(PACKAGE_ROOT);
      expect(realpathSync(join(link, 'package.json'))).toBe(join(PACKAGE_ROOT, 'package.json'));
    } finally {
      await demo.cleanup();
    }
    expect(existsSync(demo.root)).toBe(false);
  });
});
