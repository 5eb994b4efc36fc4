/**
 * The templates' Dockerfile and docker-compose.yml, read as text (there is no Docker here; the Dockerfile's install
 * step itself runs in test/e2e/package.test.ts): what the compose setup promises about start order, stop time,
 * ports and settings, and the base image.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../../src/engine/defaults.js';
import { TEMPLATES_ROOT } from '../../../src/scaffold/package-root.js';
import { TEMPLATE_NAMES } from '../../../src/scaffold/templates.js';

const read = (template: string, file: string) => readFileSync(join(TEMPLATES_ROOT, template, file), 'utf8');

/** `services:` of a compose file as name → its indented block (two-space YAML, as the templates are written). */
function services(compose: string): Map<string, string> {
  const body = compose.slice(compose.indexOf('\nservices:\n') + '\nservices:\n'.length).split(/\n(?=\S)/)[0];
  const out = new Map<string, string>();
  for (const block of body.split(/\n(?=  [a-z][\w-]*:\n)/)) {
    const name = /^\s*([a-z][\w-]*):/.exec(block)?.[1];
    if (name) out.set(name, block);
  }
  return out;
}

describe.each(TEMPLATE_NAMES)('the %s template deploys', (template) => {
  const dockerfile = read(template, 'Dockerfile');
  const compose = read(template, 'docker-compose.yml');
  const all = services(compose);

  it('on a supported Node LTS image, installing with whichever lockfile and a tarball kept in the folder', () => {
    expect(dockerfile).toMatch(/^FROM node:24-slim$/m);
    expect(dockerfile).toMatch(/^COPY package\.json package-lock\.json\* pnpm-lock\.yaml\* yarn\.lock\* \*\.tgz \.\/$/m);
    expect(dockerfile).toContain('pnpm-lock.yaml ]; then npx --yes pnpm@10 install --prod --frozen-lockfile');
    expect(dockerfile).toContain('yarn.lock ]; then npx --yes yarn@1 install --production --frozen-lockfile');
    expect(dockerfile).toMatch(/^USER node$/m);
  });

  it("engine services: .env read, 40 s to stop (more than the engine's own grace), the start order waits for health", () => {
    const anchor = compose.slice(compose.indexOf('x-engine: &engine'), compose.indexOf('\nservices:'));
    const grace = Number(/stop_grace_period: (\d+)s/.exec(anchor)?.[1]);
    expect(grace).toBe(40);
    expect(grace * 1000).toBeGreaterThan(DEFAULTS.shutdownGraceMs + 10_000);
    expect(anchor).toMatch(/env_file:\n\s+- path: \.env\n\s+required: false/);
    for (const name of ['engine', 'web', 'worker']) expect(all.get(name), name).toContain('<<: *engine');
    let checked = 0;
    for (const [name, block] of all) {
      const depends = /depends_on:\n((?:\s{6}.*\n?)+)/.exec(block)?.[1] ?? '';
      for (const dependency of depends.split('\n').filter((l) => /^\s{6}\w/.test(l))) {
        expect(depends, `${name} → ${dependency.trim()}`).toMatch(new RegExp(`${dependency.trim()}\\n\\s+condition: service_healthy`));
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(template === 'clamav' ? 4 : 2);
    expect(all.get('redis')).toContain('test: ["CMD", "redis-cli", "ping"]');
  });

  it('the journal of accepted bounties lives in a volume the non-root user can write', () => {
    expect(dockerfile).toMatch(/^ENV POLYSWARM_STATE_DIR=\/var\/lib\/polyswarm-engine$/m);
    expect(dockerfile).toMatch(/^RUN mkdir -p \/var\/lib\/polyswarm-engine && chown node:node \/var\/lib\/polyswarm-engine$/m);
    // Created (and chowned) before the image switches to that user.
    expect(dockerfile.indexOf('chown node:node /var/lib/polyswarm-engine')).toBeLessThan(dockerfile.indexOf('USER node'));
    expect(all.get('engine')).toMatch(/volumes:\n\s+- engine-state:\/var\/lib\/polyswarm-engine/);
    expect(compose).toMatch(/^volumes:\n(?:\s+[\w-]+:\n)*\s+engine-state:/m);
  });

  it('no two services publish the same host port', () => {
    const published = [...compose.matchAll(/^\s+- "(?:[\d.]+:)?(\d+):\d+"$/gm)].map((m) => m[1]);
    expect(published.length).toBeGreaterThan(1);
    expect(new Set(published).size).toBe(published.length);
  });
});

describe('the clamav template with compose', () => {
  const compose = read('clamav', 'docker-compose.yml');
  const all = services(compose);

  it('scans through clamd once it is healthy, and builds its engine image without ClamAV', () => {
    for (const name of ['engine', 'worker']) {
      expect(all.get(name), name).toContain('CLAMD_SOCKET: clamd:3310');
      expect(all.get(name), name).toMatch(/clamd:\n\s+condition: service_healthy/);
    }
    expect(all.get('clamd')).toContain('test: ["CMD", "clamdcheck.sh"]');
    expect(compose).toMatch(/args:\n\s+SIGNATURES: none/);
    expect(read('clamav', 'Dockerfile')).toMatch(/^ARG SIGNATURES=bundled$/m);
  });
});
