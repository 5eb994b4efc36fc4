/**
 * Hot reload for `serve`: watch `src/` (and what package.json lists under `polyswarm.watch`, e.g. a YARA template's
 * `rules/`), load the scan module fresh on save and swap it in; the engine asks for the module once per bounty, so
 * the next bounty uses the new code. A module that fails to load is reported and the last good one keeps answering.
 */
import { readFileSync } from 'node:fs';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { loadScanModule, ScanModuleError } from './loader.js';
import type { EngineProject } from '../util/project.js';
import type { ScanModule } from './types.js';

export interface ScanModuleWatcherOptions {
  project: EngineProject;
  /** The module loaded at startup: served until a reload succeeds. */
  initial: ScanModule;
  logger: Logger;
  /** Quiet time after the last change before reloading (editors write a file in several steps). Default 50 ms. */
  debounceMs?: number;
  /** Called after each reload attempt (tests and the bench wait on it). */
  onReload?: (outcome: ReloadOutcome) => void;
}

export type ReloadOutcome = { ok: true; ms: number; generation: number } | { ok: false; ms: number; error: unknown };

export interface ScanModuleWatcher {
  /** The module to scan with now: pass `() => watcher.current()` as the engine's `module`. */
  current(): ScanModule;
  /** How many reloads succeeded. */
  readonly generation: number;
  close(): Promise<void>;
}

/**
 * What `serve` watches: `src/`, then package.json's `polyswarm.watch` (paths relative to the project, e.g.
 * `["rules"]`, for files the module reads as it loads). A TypeError when that is not a list of relative paths.
 */
export function watchedPaths(project: EngineProject): string[] {
  let pkg: { polyswarm?: { watch?: unknown } };
  try {
    pkg = JSON.parse(readFileSync(join(project.dir, 'package.json'), 'utf8')) as typeof pkg;
  } catch {
    return [project.srcDir];
  }
  const extra = pkg?.polyswarm?.watch;
  if (extra === undefined) return [project.srcDir];
  if (!Array.isArray(extra) || extra.some((p) => typeof p !== 'string' || p === '' || isAbsolute(p))) {
    throw new TypeError('package.json "polyswarm.watch" must be a list of paths relative to the project, e.g. ["rules"]');
  }
  return [...new Set([project.srcDir, ...(extra as string[]).map((p) => resolve(project.dir, p))])];
}

/** Editor leftovers and other files whose changes mean nothing: dotfiles (`.#x`, `.x.swp`), backups, vim's probe. */
function isIgnored(path: string, roots: string[]): boolean {
  const root = roots.find((r) => path === r || path.startsWith(r + sep));
  if (root === undefined || path === root) return false;
  const parts = relative(root, path).split(sep);
  if (parts.some((p) => p === 'node_modules' || p.startsWith('.'))) return true;
  const name = basename(path);
  return /~$|\.(swp|swo|swx|tmp|bak|orig)$|^#.*#$|^4913$/.test(name);
}

/**
 * Watches the {@link watchedPaths} and reloads the scan module (debounced) on every change; resolves once the watcher
 * is ready, so a save right after is seen. Logs `reloaded` (with its ms) or `reload failed` (with the file and line).
 */
export async function watchScanModule(options: ScanModuleWatcherOptions): Promise<ScanModuleWatcher> {
  const { project, logger } = options;
  const debounceMs = options.debounceMs ?? 50;
  let module = options.initial;
  let generation = 0;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let closed = false;
  let firstChange = 0;
  let changed: string | undefined;

  const reload = async () => {
    const started = performance.now();
    const file = changed;
    const savedAt = firstChange;
    changed = undefined;
    firstChange = 0;
    try {
      const next = await loadScanModule(project.scanFile, { fresh: true, root: project.dir, changed: file });
      if (closed) return;
      module = next;
      generation++;
      const ms = Math.round(performance.now() - started);
      logger.info('reloaded', {
        file: file ? relative(project.dir, file).split(sep).join('/') : undefined,
        ms,
        since_save_ms: Math.round(performance.now() - savedAt),
      });
      options.onReload?.({ ok: true, ms, generation });
    } catch (error) {
      if (closed) return;
      const ms = Math.round(performance.now() - started);
      if (error instanceof ScanModuleError) {
        logger.error('reload failed', { at: error.where, error: error.reason, keeping: 'the last good module' });
        // One log line per event in JSON; a person at a terminal gets the line at fault under it.
        if (logger.format === 'text') for (const line of error.frame?.split('\n') ?? []) logger.error(line);
      } else {
        logger.error('reload failed', { error: errorMessage(error), keeping: 'the last good module' });
      }
      options.onReload?.({ ok: false, ms, error });
    }
  };

  // One reload at a time; changes during a reload cause exactly one more.
  const trigger = () => {
    timer = undefined;
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    running = reload().finally(() => {
      running = undefined;
      if (again && !closed) {
        again = false;
        trigger();
      }
    });
  };

  const onChange = (path: string) => {
    if (closed) return;
    changed = path;
    if (firstChange === 0) firstChange = performance.now();
    if (timer) clearTimeout(timer);
    timer = setTimeout(trigger, debounceMs);
  };

  let paths = [project.srcDir];
  try {
    paths = watchedPaths(project);
  } catch (error) {
    logger.warn(`watching src/ only: ${errorMessage(error)}`);
  }
  const watcher: FSWatcher = watch(paths, {
    ignoreInitial: true,
    ignored: (path: string) => isIgnored(path, paths),
  });
  watcher.on('add', onChange).on('change', onChange).on('unlink', onChange);
  watcher.on('error', (error) => logger.warn('file watcher error', { error: errorMessage(error) }));
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));

  return {
    current: () => module,
    get generation() {
      return generation;
    },
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await watcher.close();
      await running;
    },
  };
}
