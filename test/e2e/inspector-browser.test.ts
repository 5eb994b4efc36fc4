/**
 * The `serve` inspector driven in a real headless Chromium (Debian's `chromium`, through playwright-core): a
 * bounty sent by `test bounty` appears as one transaction, replays add transactions, a byte-for-byte replay after
 * the secret changed is refused with its reason, an edited bounty with a bad sha256 shows the mismatch, the live
 * stream comes back after the connection dropped, and another site cannot drive the API.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBin } from '../helpers/bin.js';
import { EICAR } from '../helpers/engines.js';
import { makeProject, READY, SECRET, spawnBin, useCleanup, type Child } from './serve-helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const INSPECT = /inspect\s+(http:\/\/127\.0\.0\.1:\d+\/)/;

const SCAN = [
  "import type { ScanFunction } from 'polyswarm-engine';",
  `const EICAR = ${JSON.stringify(EICAR)};`,
  'export const scan: ScanFunction = async (bounty, ctx) => {',
  '  const bytes = await bounty.fetchArtifact();',
  "  ctx.log.info('looked at the artifact', { bytes: bytes.length });",
  "  if (bytes.toString('latin1') === 'BOOM') throw new Error('boom: this file breaks the scan');",
  "  return { verdict: bytes.toString('latin1').includes(EICAR) ? 'malicious' : 'benign' };",
  '};',
  '',
].join('\n');

const { cleanup, track } = useCleanup();
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
});

async function serve(dir: string, inspectorPort = 0): Promise<{ child: Child; url: string; inspector: string }> {
  const child = track(spawnBin(['serve', '--cwd', dir, '--port', '0', '--inspector-port', String(inspectorPort), '--no-watch']));
  const inspector = (await child.waitFor(INSPECT, 20_000))[1]!;
  const url = (await child.waitFor(READY, 20_000))[1]!;
  return { child, url, inspector };
}

/** The rows of the list, newest first, as the page shows them. */
async function rows(page: Page) {
  return page.locator('[data-testid=tx]').evaluateAll((trs) =>
    trs.map((tr) => ({
      id: tr.getAttribute('data-id'),
      cells: Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? ''),
      status: tr.querySelector('[data-testid=status]')?.textContent,
      verdict: tr.querySelector('[data-testid=verdict]')?.getAttribute('data-verdict'),
      answer: tr.getAttribute('data-answer'),
      outcome: tr.getAttribute('data-outcome'),
    })),
  );
}

describe('inspector in a browser', () => {
  it('shows a bounty as one transaction, replays it three ways, resumes its stream, refuses other sites', async () => {
    const project = makeProject({ 'src/scan.ts': SCAN });
    cleanup.push(project.remove);
    let { child, url, inspector } = await serve(project.dir);
    const page = await browser.newPage();
    cleanup.push(() => page.close());
    await page.goto(inspector);
    await expect.poll(() => page.textContent('[data-testid=live]')).toBe('live');

    // One `test bounty --eicar`: one transaction, with its verdict, ack time and the receiver's status.
    const sent = await runBin(['test', 'bounty', '--eicar', '--url', url, '--secret', SECRET]);
    expect(sent.exitCode, sent.stdout + sent.stderr).toBe(0);
    await expect.poll(async () => (await rows(page))[0]?.answer, { timeout: 10_000 }).toBe('200');
    let list = await rows(page);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ status: '202', verdict: 'malicious' });
    expect(list[0]!.cells[3]).toMatch(/^\d+(\.\d+)? ms$/);
    await page.click('[data-testid=tx]');
    await expect
      .poll(() => page.textContent('[data-testid=answer-detail]'))
      .toMatch(/malicious[\s\S]*1 NCT \(1000000000000000000 wei\)[\s\S]*HTTP 200[\s\S]*valid/);
    await expect.poll(() => page.textContent('[data-testid=download]')).toMatch(/sha256 checkmatches/);
    await expect.poll(() => page.textContent('[data-testid=log]')).toMatch(/INFOlooked at the artifact bytes=68/);

    // Re-signed: a second transaction, scanned again and answered malicious.
    await page.click('[data-testid=replay-resigned]');
    await expect.poll(async () => (await rows(page)).length, { timeout: 10_000 }).toBe(2);
    await expect
      .poll(async () => (await rows(page))[0], { timeout: 10_000 })
      .toMatchObject({ status: '202', verdict: 'malicious', answer: '200' });
    expect((await rows(page))[0]!.cells[6]).toBe('replay-resigned');

    // Edited and re-signed with a wrong sha256: the download shows the mismatch, the answer is unknown.
    await page.click(`[data-id="${list[0]!.id}"]`);
    await page.click('[data-testid=edit]');
    const area = page.locator('[data-testid=edit-body]');
    await expect.poll(() => area.inputValue()).toMatch(/"sha256":"[0-9a-f]{64}"/);
    await area.fill((await area.inputValue()).replace(/"sha256":"[0-9a-f]{64}"/, `"sha256":"${'0'.repeat(64)}"`));
    await page.click('[data-testid=send-edited]');
    await expect.poll(async () => (await rows(page))[0]?.cells[6], { timeout: 10_000 }).toBe('replay-edited');
    await expect.poll(async () => (await rows(page))[0]?.verdict, { timeout: 10_000 }).toBe('unknown');
    await page.click('[data-testid=tx] >> nth=0');
    await expect.poll(() => page.textContent('[data-testid=download]')).toMatch(/hash-mismatch[\s\S]*MISMATCH/);

    // A new bounty from the page, with an uploaded file that makes the scan throw: the error and its stack.
    await page.click('#send-box summary');
    await page.setInputFiles('#send-file', { name: 'boom.txt', mimeType: 'text/plain', buffer: Buffer.from('BOOM') });
    await page.check('input[name=artifact][value=file]');
    await page.click('[data-testid=send]');
    await expect.poll(async () => (await rows(page))[0]?.cells[6], { timeout: 10_000 }).toBe('send');
    await expect.poll(async () => (await rows(page))[0]?.verdict, { timeout: 10_000 }).toBe('unknown');
    await page.click('[data-testid=tx] >> nth=0');
    await expect.poll(() => page.textContent('[data-testid=scan]')).toMatch(/unprocessable: boom: this file breaks the scan/);
    await expect.poll(() => page.textContent('[data-testid=stack]')).toMatch(/scan\.ts/);

    // Export, restart serve with another secret on the same inspector port: the page's stream drops and resumes;
    // the export is imported into the new process.
    const exported = await (await fetch(`${inspector}api/export.jsonl`)).text();
    expect(exported.trim().split('\n')).toHaveLength(4);
    child.kill('SIGTERM');
    expect(await child.exited()).toBe(0);
    await expect.poll(() => page.textContent('[data-testid=live]')).toBe('reconnecting…');
    project.write('.env', 'WEBHOOK_SECRET=a-new-secret\n');
    ({ child, url, inspector } = await serve(project.dir, Number(new URL(inspector).port)));
    await expect.poll(() => page.textContent('[data-testid=live]'), { timeout: 10_000 }).toBe('live');
    const file = join(project.dir, 'history.jsonl');
    writeFileSync(file, exported);
    await page.setInputFiles('#import', file);
    await expect.poll(async () => (await rows(page)).filter((r) => r.cells[6] === 'import').length, { timeout: 10_000 }).toBe(4);

    // Byte for byte, after the secret changed: the 401 and its reason.
    const before = (await rows(page)).length;
    await page.locator('[data-testid=tx]').filter({ hasText: 'import' }).last().click();
    await page.click('[data-testid=replay-exact]');
    await expect.poll(async () => (await rows(page)).length, { timeout: 10_000 }).toBe(before + 1);
    list = await rows(page);
    expect(list[0]).toMatchObject({ status: '401' });
    await page.click(`[data-id="${list[0]!.id}"]`);
    await expect.poll(() => page.textContent('[data-testid=request]')).toMatch(/refused: Signature does not match body/);

    // Another site in the same browser: its request is refused and drives nothing.
    const count = ((await (await fetch(`${inspector}api/transactions`)).json()) as { transactions: unknown[] }).transactions.length;
    const other = await browser.newPage();
    cleanup.push(() => other.close());
    await other.goto(url);
    const status = await other.evaluate(async (target) => {
      try {
        const res = await fetch(`${target}api/send`, {
          method: 'POST',
          body: '{}',
          headers: { 'content-type': 'text/plain' },
          mode: 'no-cors',
        });
        return res.type;
      } catch (error) {
        return String(error);
      }
    }, inspector);
    expect(status).toBe('opaque');
    const direct = await fetch(`${inspector}api/send`, { method: 'POST', body: '{}', headers: { origin: url.replace(/\/$/, '') } });
    expect(direct.status).toBe(403);
    expect(await direct.json()).toMatchObject({ error: expect.stringContaining('refused') });
    const listed = (await (await fetch(`${inspector}api/transactions`)).json()) as { transactions: unknown[] };
    expect(listed.transactions).toHaveLength(count);
  }, 120_000);

  it('--no-inspector: no page, and the banner says so', async () => {
    const project = makeProject({ 'src/scan.ts': SCAN });
    cleanup.push(project.remove);
    const child = track(spawnBin(['serve', '--cwd', project.dir, '--port', '0', '--no-watch', '--no-inspector']));
    await child.waitFor(/inspect\s+off \(--no-inspector\)/, 20_000);
    const ready = await child.waitFor(READY, 20_000);
    expect(ready[0]).not.toContain('inspector=');
  });
});
