/**
 * The project templates: plain folders under `templates/`, copied verbatim. Dotfiles are stored with a
 * leading underscore (npm drops or rewrites some dotfiles when it packs a package) and renamed on copy.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TEMPLATES_ROOT } from './package-root.js';

export { DEFAULT_TEMPLATE, TEMPLATE_DESCRIPTIONS, TEMPLATE_NAMES, type TemplateName } from './names.js';
import type { TemplateName } from './names.js';

/** Stored name → name in the new project. */
export const RENAMES: Readonly<Record<string, string>> = {
  _gitignore: '.gitignore',
  '_env.example': '.env.example',
  _dockerignore: '.dockerignore',
};

/** A file's name once copied (`_gitignore` → `.gitignore`). */
export function renamed(name: string): string {
  return RENAMES[name] ?? name;
}

/**
 * The files a template produces, as sorted relative paths with `/` separators and the renames applied.
 * (`init` adds `.env`, generated, and whatever the package manager and git create.)
 */
export function templateFiles(name: TemplateName, root: string = TEMPLATES_ROOT): string[] {
  const out: string[] = [];
  const walk = (dir: string, prefix: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const target = prefix + renamed(entry.name);
      if (entry.isDirectory()) walk(join(dir, entry.name), `${target}/`);
      else out.push(target);
    }
  };
  walk(join(root, name), '');
  return out.sort();
}
