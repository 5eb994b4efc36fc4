/**
 * The temp sweep: downloaded artifacts (malware samples) live in `<tmp>/polyswarm-artifact-*` during a scan; a
 * process killed with SIGKILL cannot remove them, so every start removes the folders whose process is gone.
 */
import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARTIFACT_DIR_PREFIX, ARTIFACT_RUN } from '../engine/defaults.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { processAlive as isAlive } from '../util/project.js';

/** Removes artifact folders left by processes that no longer run; returns how many it removed. */
export function sweepArtifacts(logger: Logger, dir: string = tmpdir()): number {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    if (!name.startsWith(ARTIFACT_DIR_PREFIX)) continue;
    const match = /^(\d+)\.([0-9a-f]+)-/.exec(name.slice(ARTIFACT_DIR_PREFIX.length));
    if (!match) continue;
    const pid = Number(match[1]);
    const ours = `${match[1]}.${match[2]}` === ARTIFACT_RUN;
    // Another live process's folder stays; so does ours. Same pid but another run: left by a previous container run.
    if (ours || (pid !== process.pid && isAlive(pid))) continue;
    try {
      rmSync(join(dir, name), { recursive: true, force: true });
      removed++;
    } catch (error) {
      logger.warn('could not remove a left-over artifact folder', { folder: join(dir, name), error: errorMessage(error) });
    }
  }
  if (removed > 0) logger.info('removed artifact folders left by a stopped engine', { folders: removed, in: dir });
  return removed;
}
