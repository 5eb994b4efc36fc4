import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readServeState, removeServeState, serveStatePath, writeServeState } from '../../../src/util/project.js';

const dir = mkdtempSync(join(tmpdir(), 'pse-state-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('serve state file', () => {
  it('is written under .polyswarm/ (which ignores itself in git) and read back', () => {
    const state = { url: 'http://127.0.0.1:4321/', pid: process.pid, startedAt: new Date().toISOString() };
    expect(writeServeState(dir, state)).toBe(join(dir, '.polyswarm', 'serve.json'));
    expect(readServeState(dir)).toEqual(state);
    expect(readFileSync(join(dir, '.polyswarm', '.gitignore'), 'utf8')).toMatch(/^\*$/m);
  });

  it('is removed only by the process it describes (a newer serve may have taken over)', () => {
    writeServeState(dir, { url: 'http://127.0.0.1:1/', pid: process.pid + 1, startedAt: new Date().toISOString() });
    removeServeState(dir);
    expect(existsSync(serveStatePath(dir))).toBe(true);
    removeServeState(dir, process.pid + 1);
    expect(existsSync(serveStatePath(dir))).toBe(false);
    expect(readServeState(dir)).toBeNull();
    removeServeState(dir);
  });
});
