/**
 * The Grafana dashboard and Prometheus config the templates ship: every metric a panel queries is one the engine
 * exports (a renamed metric would leave a panel silently empty), and the three templates ship the same files.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPrometheusMetrics } from '../../../../src/engine/metrics/prometheus.js';

const TEMPLATES = join(import.meta.dirname, '../../../../templates');
const FILES = [
  'monitoring/prometheus.yml',
  'monitoring/grafana/datasource.yml',
  'monitoring/grafana/dashboards.yml',
  'monitoring/grafana/polyswarm-engine.json',
];
const read = (template: string, file: string) => readFileSync(join(TEMPLATES, template, file), 'utf8');

describe('templates/*/monitoring', () => {
  it('the dashboard queries only metrics the engine exports, and every engine metric has a panel', async () => {
    const dashboard = JSON.parse(read('typescript', FILES[3]!)) as {
      panels: { type: string; targets?: { expr: string }[] }[];
      templating: { list: { query: { query: string } }[] };
    };
    const exprs = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
      ...dashboard.templating.list.map((v) => v.query.query),
    ];
    expect(exprs.length).toBeGreaterThan(15);
    const queried = new Set(exprs.flatMap((e) => e.match(/\b(polyswarm_engine|process|nodejs)_[a-z_0-9]+/g) ?? []));

    const metrics = createPrometheusMetrics();
    const exported = new Set<string>();
    for (const m of await metrics.registry.getMetricsAsJSON()) {
      exported.add(m.name);
      if (String(m.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(m.name + suffix);
    }
    for (const name of queried) expect(exported, `${name} is queried by the dashboard`).toContain(name);
    const ours = [...exported].filter((n) => n.startsWith('polyswarm_engine_') && !/_(sum|count)$/.test(n));
    for (const name of ours) {
      const base = name.replace(/_bucket$/, '');
      expect(
        [...queried].some((q) => q.startsWith(base)),
        `${name} has a panel`,
      ).toBe(true);
    }
  });

  it('every template ships the same monitoring files, and compose runs them under the monitoring profile on port 9464', () => {
    for (const template of ['javascript', 'clamav', 'yara'])
      for (const file of FILES) expect(read(template, file), `${template}/${file}`).toBe(read('typescript', file));
    for (const template of ['typescript', 'javascript', 'clamav', 'yara']) {
      const compose = read(template, 'docker-compose.yml');
      expect(compose.match(/POLYSWARM_METRICS_PORT: "9464"/g), template).toHaveLength(3);
      expect(compose).toMatch(/prometheus:\n {4}profiles: \["monitoring"\]/);
      expect(compose).toMatch(/grafana:\n {4}profiles: \["monitoring"\]/);
      for (const file of FILES) expect(compose, `${template} mounts ${file}`).toContain(`./${file}:`);
    }
    expect(read('typescript', FILES[0]!).match(/port: 9464/g)).toHaveLength(3);
  });
});
