/**
 * The inspector's layout in a real headless Chromium, at 1280×800 and 1920×1080, light and dark: the list fits its
 * pane (no sideways scroll, before or after a row is selected), each kind of outcome has its badge (a verdict, a scan
 * error, an expired bounty, a duplicate, a refused request — all real traffic to the built bin), the summary is above
 * the fold once a row is selected, "copy as curl" puts the command on the clipboard, a replay is selected when it
 * arrives, and the empty detail says whether there is nothing yet or nothing selected. Screenshots are written to the
 * test's temp dir (its path is printed) for a human to look at.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBin } from '../helpers/bin.js';
import { EICAR } from '../helpers/engines.js';
import { makeProject, READY, SECRET, spawnBin, useCleanup } from './serve-helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const INSPECT = /inspect\s+(http:\/\/127\.0\.0\.1:\d+\/)/;
const SHOTS = mkdtempSync(join(tmpdir(), 'pse-inspector-shots-'));

const SCAN = [
  "import type { ScanFunction } from 'polyswarm-engine';",
  `const EICAR = ${JSON.stringify(EICAR)};`,
  'export const scan: ScanFunction = async (bounty, ctx) => {',
  '  const bytes = await bounty.fetchArtifact();',
  "  ctx.log.info('looked at the artifact', { bytes: bytes.length });",
  "  if (bytes.toString('latin1') === 'BOOM') throw new Error('boom: this file breaks the scan');",
  "  if (bytes.toString('latin1').includes(EICAR)) return { verdict: 'malicious', metadata: { malware_family: 'EICAR-Test-File' } };",
  "  return { verdict: 'benign' };",
  '};',
  '',
].join('\n');

const { cleanup, track } = useCleanup();
let browser: Browser;

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
});

afterAll(async () => {
  await browser?.close();
  console.log(`inspector screenshots: ${SHOTS}`);
});

/** What the list shows, and whether it scrolls sideways. */
function list(page: Page) {
  return page.evaluate(() => {
    const pane = document.querySelector('#list')!;
    return {
      overflow: pane.scrollWidth - pane.clientWidth,
      selected: document.querySelector('#rows tr.selected')?.getAttribute('data-id') ?? null,
      rows: Array.from(document.querySelectorAll('#rows tr.tx'), (tr) => ({
        id: tr.getAttribute('data-id')!,
        outcome: tr.getAttribute('data-outcome'),
        via: tr.querySelector('[data-testid=via]')?.textContent,
        badge: tr.querySelector('[data-testid=badge]')?.textContent,
      })),
    };
  });
}

/** The summary's box, and whether all of it is inside the viewport. */
async function summaryInView(page: Page) {
  const box = await page.locator('[data-testid=summary]').boundingBox();
  const view = page.viewportSize()!;
  return box !== null && box.y >= 0 && box.x >= 0 && box.y + box.height <= view.height && box.x + box.width <= view.width;
}

describe('inspector layout in Chromium', () => {
  it('fits, badges every outcome, puts the summary above the fold, copies curl, follows a replay', async () => {
    const project = makeProject({ 'src/scan.ts': SCAN });
    cleanup.push(project.remove);
    const child = track(spawnBin(['serve', '--cwd', project.dir, '--port', '0', '--inspector-port', '0', '--no-watch']));
    const inspector = (await child.waitFor(INSPECT, 20_000))[1]!;
    const url = (await child.waitFor(READY, 20_000))[1]!;

    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    cleanup.push(() => context.close());
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: inspector.replace(/\/$/, '') });
    const page = await context.newPage();
    await page.goto(inspector);
    await expect.poll(() => page.textContent('[data-testid=live]')).toBe('live');
    expect(await page.textContent('[data-testid=empty]')).toMatch(/^Nothing yet/);

    // Real traffic: an answered EICAR; the same bounty again byte for byte (a duplicate); a request with a bad
    // signature (refused); a bounty whose scan throws (error); an edited bounty that expired before it came (expired).
    const sent = await runBin(['test', 'bounty', '--eicar', '--url', url, '--secret', SECRET]);
    expect(sent.exitCode, sent.stdout + sent.stderr).toBe(0);
    await expect.poll(async () => (await list(page)).rows[0]?.outcome, { timeout: 10_000 }).toBe('malicious');
    const eicar = (await list(page)).rows[0]!.id;
    expect(await page.textContent('[data-testid=empty]')).toMatch(/^Select a transaction in the list \(1 listed\)/);

    const bad = await fetch(url, {
      method: 'POST',
      headers: { 'x-polyswarm-event': 'bounty', 'x-polyswarm-signature': '00', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(bad.status).toBeGreaterThanOrEqual(400);
    await expect.poll(async () => (await list(page)).rows[0]?.outcome, { timeout: 10_000 }).toBe('refused');

    await page.click(`[data-id="${eicar}"]`);
    await page.click('[data-testid=replay-exact]');
    await expect.poll(async () => (await list(page)).rows[0]?.outcome, { timeout: 10_000 }).toBe('duplicate');

    await page.click('#send-box summary');
    await page.setInputFiles('#send-file', { name: 'boom.txt', mimeType: 'text/plain', buffer: Buffer.from('BOOM') });
    await page.check('input[name=artifact][value=file]');
    await page.click('[data-testid=send]');
    await expect.poll(async () => (await list(page)).rows[0]?.outcome, { timeout: 10_000 }).toBe('error');

    await page.click(`[data-id="${eicar}"]`);
    await page.click('[data-testid=edit]');
    const area = page.locator('[data-testid=edit-body]');
    await expect.poll(() => area.inputValue()).toMatch(/"expiration":"[^"]+"/);
    // Expired before it came, and carrying what an attacker could send: it must show as text, never run.
    const hostile = '{"note":"<img src=x onerror=\\"window.pwned=1\\">",';
    await area.fill(
      (await area.inputValue()).replace(/"expiration":"[^"]+"/, '"expiration":"2020-01-01T00:00:00.000Z"').replace('{', hostile),
    );
    await page.click('[data-testid=send-edited]');
    await expect.poll(async () => (await list(page)).rows[0]?.outcome, { timeout: 10_000 }).toBe('expired');
    await page.click('[data-testid=tx] >> nth=0');
    await expect.poll(() => page.textContent('[data-testid=request-body]')).toContain('"note": "<img src=x onerror=\\"window.pwned=1\\">"');
    expect(await page.evaluate(() => [document.querySelectorAll('#detail img').length, 'pwned' in window])).toEqual([0, false]);
    const { rows } = await list(page);
    expect(rows.map((r) => r.badge)).toEqual(['expired', 'error', 'duplicate', 'refused', 'malicious']);
    expect(rows.map((r) => r.via)).toEqual(['replay-edited', 'send', 'replay-exact', 'engine', 'engine']);

    // A bounty still due an answer turns from waiting to expired by the clock alone, as the page stays open: the
    // answered EICAR imported without its answer, two seconds from its expiration.
    const exported = (await (await fetch(`${inspector}api/export.jsonl`)).text()).trim().split('\n');
    const unanswered = JSON.parse(exported[0]!) as Record<string, unknown> & { summary: { expiration: string } };
    delete unanswered.answer;
    unanswered.summary.expiration = new Date(Date.now() + 2000).toISOString();
    const file = join(project.dir, 'unanswered.jsonl');
    writeFileSync(file, `${JSON.stringify(unanswered)}\n`);
    await page.setInputFiles('#import', file);
    await expect.poll(async () => (await list(page)).rows[0], { timeout: 10_000 }).toMatchObject({ via: 'import', outcome: 'waiting' });
    await expect.poll(async () => (await list(page)).rows[0]?.outcome, { timeout: 10_000 }).toBe('expired');
    rows.unshift((await list(page)).rows[0]!);

    // Each selected row, at both sizes, light and dark: no sideways scroll, the summary in view, a screenshot.
    for (const [width, height] of [
      [1280, 800],
      [1920, 1080],
    ] as const) {
      await page.setViewportSize({ width, height });
      for (const row of rows) {
        await page.click(`[data-id="${row.id}"]`);
        await expect.poll(() => page.getAttribute('#detail', 'data-id')).toBe(row.id);
        const shown = await list(page);
        expect(shown.overflow, `list scrolls sideways at ${width}×${height} with ${row.outcome} selected`).toBeLessThanOrEqual(0);
        expect(await summaryInView(page), `summary of ${row.outcome} above the fold at ${width}×${height}`).toBe(true);
        expect(await page.textContent('[data-testid=summary]')).toContain(row.outcome === 'malicious' ? 'EICAR-Test-File' : row.badge!);
        await page.screenshot({ path: join(SHOTS, `inspector-${width}x${height}-${row.outcome}-${row.via}.png`) });
      }
      await page.click(`[data-id="${eicar}"]`);
    }
    await page.emulateMedia({ colorScheme: 'dark' });
    expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgb(21, 24, 30)');
    await page.screenshot({ path: join(SHOTS, 'inspector-1920x1080-dark.png') });
    await page.emulateMedia({ colorScheme: 'light' });

    // The summary of the answered bounty: verdict, bid in NCT, family, margin; the stack of the error shown once.
    await page.setViewportSize({ width: 1280, height: 800 });
    const summary = await page
      .locator('[data-testid=summary] [data-fact]')
      .evaluateAll((facts) => Object.fromEntries(facts.map((f) => [f.getAttribute('data-fact'), f.querySelector('dd')?.textContent])));
    expect(summary).toMatchObject({
      verdict: 'malicious',
      bid: '1 NCT',
      family: 'EICAR-Test-File',
      margin: expect.stringMatching(/^\d+\.\d\d s before expiry$/),
    });
    await page.click(`[data-id="${rows.find((r) => r.outcome === 'error')!.id}"]`);
    await expect.poll(() => page.textContent('[data-testid=scan]')).toMatch(/unprocessable: boom: this file breaks the scan/);
    const scan = (await page.textContent('[data-testid=scan]'))!;
    expect(scan.match(/Error: boom: this file breaks the scan/g), scan).toHaveLength(1);

    // Copy as curl: the command is on the clipboard.
    await page.click(`[data-id="${eicar}"]`);
    await page.evaluate(() => navigator.clipboard.writeText(''));
    await page.click('[data-testid=curl]');
    await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toMatch(/^curl .*x-polyswarm-signature: [0-9a-f]{64}/is);
    expect(await page.textContent('[data-testid=flash]')).toMatch(/curl command copied/);
    // Where the Clipboard API is missing (a page served over plain HTTP to another host), the fallback copies it.
    await page.evaluate(async () => {
      const clipboard = navigator.clipboard;
      await clipboard.writeText('');
      Object.assign(window, { realClipboard: clipboard });
      Object.defineProperty(navigator, 'clipboard', { value: undefined });
    });
    await page.click('[data-testid=curl]');
    await expect
      .poll(() => page.evaluate(() => (window as unknown as { realClipboard: Clipboard }).realClipboard.readText()))
      .toMatch(/^curl .*x-polyswarm-signature: [0-9a-f]{64}/is);

    // A re-signed replay is selected when it arrives.
    await page.click('[data-testid=replay-resigned]');
    await expect.poll(async () => (await list(page)).rows.length, { timeout: 10_000 }).toBe(7);
    const after = await list(page);
    expect(after.rows[0]!.via).toBe('replay-resigned');
    await expect.poll(async () => (await list(page)).selected).toBe(after.rows[0]!.id);
    expect(await page.getAttribute('#detail', 'data-id')).toBe(after.rows[0]!.id);
  }, 120_000);
});
