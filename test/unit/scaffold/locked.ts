/**
 * Making a folder unwritable for the tests, also as root (CI runs as root, and root ignores mode bits):
 * root gets the immutable attribute (`chattr +i`), anyone else `chmod 555`.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync } from 'node:fs';

const root = process.getuid?.() === 0;

/** Makes `dir` unwritable; throws (failing the test loudly) if that is impossible here. */
export function lockedFolder(dir: string): void {
  if (root) execFileSync('chattr', ['+i', dir]);
  else chmodSync(dir, 0o555);
}

/** Undoes `lockedFolder` on `dir` and every folder below it that a test may have locked; safe to call twice. */
export function unlockFolder(dir: string): void {
  if (!existsSync(dir)) return;
  if (root) execFileSync('sh', ['-c', 'find "$1" -maxdepth 3 -type d -exec chattr -i {} + 2>/dev/null || true', 'sh', dir]);
  else execFileSync('sh', ['-c', 'find "$1" -maxdepth 3 -type d -exec chmod u+w {} + 2>/dev/null || true', 'sh', dir]);
}
