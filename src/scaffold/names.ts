/**
 * The names `init` offers: templates and package managers. Kept free of imports so the CLI's declarations (loaded
 * for every `--help`) can list them without loading the scaffolder; `templates.ts` and `install.ts` re-export them.
 */
export const TEMPLATE_NAMES = ['typescript', 'javascript', 'clamav', 'yara'] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];
export const DEFAULT_TEMPLATE: TemplateName = 'typescript';

/** One line per template, for prompts and help. */
export const TEMPLATE_DESCRIPTIONS: Record<TemplateName, string> = {
  typescript: 'TypeScript EICAR scanner with vitest tests (recommended)',
  javascript: 'the same engine in plain ESM JavaScript with JSDoc types',
  clamav: 'a real engine that runs ClamAV (clamscan/clamdscan) on each artifact',
  yara: 'a YARA rule set (YARA-X): rules/*.yar compiled once, hot-reloaded on save, works offline',
};

export const PACKAGE_MANAGERS = ['npm', 'pnpm', 'yarn'] as const;
export type PackageManager = (typeof PACKAGE_MANAGERS)[number];
