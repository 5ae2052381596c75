// page.test.ts: the store page in a real headless Chromium (Debian's `chromium`, driven
// over the DevTools protocol by puppeteer-core), against `stowage ui` on a real store:
// two images sharing a base layer, a container of one of them using a named volume.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { requires, requiresRoot, assertNoMountsUnder } from '../helpers/env.js';
import { stowage, BIN, type Stowage } from '../helpers/cli.js';
import { makeRootfs, makeDockerArchive, type DockerArchive } from '../helpers/images.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

interface Fixture { dir: string; s: Stowage; app: DockerArchive; tool: DockerArchive; server: ChildProcess; url: string; containerId: string }

async function startUi(s: Stowage): Promise<{ server: ChildProcess; url: string }> {
  const server = spawn(process.execPath, [BIN, '--data-root', s.root, '--storage-driver', s.driver, 'ui'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  server.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`stowage ui printed no URL in 20 s; stdout: ${out}; stderr: ${err}`)), 20_000);
    server.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+\/ui\/)/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]!); }
    });
    server.on('exit', (code) => { clearTimeout(timer); reject(new Error(`stowage ui exited ${code}: ${err}`)); });
  });
  return { server, url };
}

/**
 * Clicks sel, again if the page re-rendered it between finding and clicking (the detail
 * pane is drawn once at once and again when its data arrives): puppeteer then reports
 * the old element as "not clickable".
 */
async function clickSoon(page: import('puppeteer-core').Page, sel: string): Promise<void> {
  for (let i = 0; ; i++) {
    await page.waitForSelector(sel);
    try {
      await page.click(sel);
      return;
    } catch (err) {
      if (i >= 20 || !/not clickable|detached|not an Element/i.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function stopServer(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    p.once('exit', () => { clearTimeout(t); resolve(); });
    p.kill('SIGTERM');
  });
}

/** A raw request (Node sets no Origin of its own), for the cross-site checks. */
function raw(url: string, method: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const r = request({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    r.on('error', reject);
    r.end();
  });
}

describe('the store page in Chromium', () => {
  let f: Fixture | undefined;
  let launch: (typeof import('puppeteer-core'))['launch'] | undefined;

  before(async () => {
    if (process.getuid?.() !== 0 || !CHROMIUM) return;
    launch = (await import('puppeteer-core')).launch;
    const dir = mkdtempSync(join(process.env.STOWAGE_TEST_TMP ?? tmpdir(), 'stowage-ui-'));
    const s = stowage(join(dir, 'root'), 'overlay2');
    const base = join(dir, 'base');
    await makeRootfs(base, 'busybox');
    const appDir = join(dir, 'app');
    mkdirSync(join(appDir, 'srv'), { recursive: true });
    writeFileSync(join(appDir, 'srv', 'app.js'), 'console.log("app")\n');
    const toolDir = join(dir, 'tool');
    mkdirSync(join(toolDir, 'opt'), { recursive: true });
    writeFileSync(join(toolDir, 'opt', 'tool.sh'), 'echo tool\n');
    const app = await makeDockerArchive(join(dir, 'app.tar'), { layers: [base, appDir], repoTags: ['app:1'], createdBy: ['ADD rootfs', 'COPY srv /srv'] });
    const tool = await makeDockerArchive(join(dir, 'tool.tar'), { layers: [base, toolDir], repoTags: ['tool:1'], createdBy: ['ADD rootfs', 'COPY opt /opt'] });
    await s.ok(['load', '-i', app.path]);
    await s.ok(['load', '-i', tool.path]);
    await s.ok(['volume', 'create', 'data_volume']);
    const containerId = (await s.ok(['create', '--name', 'web', '-v', 'data_volume:/var/lib/mysql', 'app:1', 'sh', '-c', 'echo hi > /srv/new.txt'])).trim();
    await s.ok(['start', '-a', 'web']);
    const { server, url } = await startUi(s);
    f = { dir, s, app, tool, server, url, containerId };
  });

  after(async () => {
    if (!f) return;
    await stopServer(f.server);
    await f.s.run(['rm', '-f', 'web']);
    assertNoMountsUnder(f.dir);
    rmSync(f.dir, { recursive: true, force: true });
  });

  async function withPage<T>(fn: (page: import('puppeteer-core').Page, errors: string[]) => Promise<T>): Promise<T> {
    const browser = await launch!({
      executablePath: CHROMIUM!, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
    });
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1400, height: 900 });
      const errors: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('requestfailed', (r) => { if (!r.url().endsWith('/events')) errors.push(`request failed: ${r.url()}`); });
      await page.goto(f!.url, { waitUntil: 'domcontentloaded' });
      await page.waitForSelector('.row.layer', { timeout: 20_000 });
      return await fn(page, errors);
    } finally {
      await browser.close();
    }
  }

  it('renders the store with no console errors, and its sharing counts equal the store\'s', async (t) => {
    if (!requiresRoot(t) || !requires(t, !!CHROMIUM, 'chromium is not installed (apt-get install chromium)')) return;
    await withPage(async (page, errors) => {
      const rows = await page.$$eval('.row', (ns) => ns.map((n) => ({ cls: n.className, label: n.getAttribute('aria-label') ?? '', text: n.textContent ?? '' })));
      const short = (c: string) => c.slice(7, 19);
      const baseRow = rows.find((r) => r.cls.includes('layer') && r.label.includes(short(f!.app.chainIds[0]!)));
      assert.ok(baseRow, `a row for the shared base layer: ${JSON.stringify(rows)}`);
      assert.match(baseRow!.cls, /shared/);
      assert.match(baseRow!.label, /2 images, 1 container/);
      assert.equal(rows.filter((r) => r.label.includes(short(f!.app.chainIds[0]!))).length, 1, 'the shared layer is drawn once');
      const appTop = rows.find((r) => r.label.includes(short(f!.app.chainIds[1]!)))!;
      assert.match(appTop.label, /1 image, 1 container/);
      const toolTop = rows.find((r) => r.label.includes(short(f!.tool.chainIds[1]!)))!;
      assert.match(toolTop.label, /1 image(?!s)/);
      assert.doesNotMatch(toolTop.label, /container/);
      assert.ok(rows.some((r) => r.cls.includes('image') && r.label.includes('app:1')));
      assert.ok(rows.some((r) => r.cls.includes('image') && r.label.includes('tool:1')));
      const web = rows.find((r) => r.cls.includes('container'));
      assert.match(web!.label, /container web/);
      // the volume, linked to the container that uses it
      const vol = await page.$eval('#volumes', (n) => n.textContent ?? '');
      assert.match(vol, /data_volume/);
      assert.match(vol, /used by web/);
      // the driver and why, and df-like totals
      await page.waitForFunction(() => /overlay2/.test(document.getElementById('driver')?.textContent ?? ''));
      assert.match(await page.$eval('#totals', (n) => n.textContent ?? ''), /Images: 2/);
      assert.deepEqual(errors, []);
    });
  });

  it('clicking a layer lists its files; a container shows its diff; keyboard works and controls are labelled', async (t) => {
    if (!requiresRoot(t) || !requires(t, !!CHROMIUM, 'chromium is not installed')) return;
    await withPage(async (page, errors) => {
      const short = f!.app.chainIds[1]!.slice(7, 19);
      await page.click(`.row.layer[aria-label*="${short}"]`);
      await page.waitForFunction(() => /srv\/app\.js/.test(document.getElementById('detail')?.textContent ?? ''), { timeout: 10_000 });
      assert.match(await page.$eval('#detail', (n) => n.textContent ?? ''), /COPY srv \/srv/);
      await page.click('.row.container');
      await page.waitForFunction(() => /srv\/new\.txt/.test(document.getElementById('detail')?.textContent ?? ''), { timeout: 10_000 });
      // keyboard: focus the tree, Home, Enter selects the first row (the base layer)
      await page.focus('#tree');
      await page.keyboard.press('Home');
      await page.keyboard.press('Enter');
      await page.waitForFunction((c: string) => (document.getElementById('detail')?.textContent ?? '').includes(c), { timeout: 10_000 }, f!.app.chainIds[0]!);
      await page.keyboard.press('ArrowDown');
      const activeId = await page.$eval('#tree', (n) => n.getAttribute('aria-activedescendant'));
      assert.ok(activeId && activeId.startsWith('row-'), 'the tree announces its active row');
      // every control has an accessible name
      const unnamed = await page.$$eval('button, input', (ns) => ns.filter((n) => !(n.getAttribute('aria-label') || n.textContent?.trim() || (n as HTMLInputElement).labels?.length)).map((n) => n.outerHTML));
      assert.deepEqual(unnamed, []);
      assert.equal(await page.$eval('#tree', (n) => n.getAttribute('role')), 'tree');
      assert.deepEqual(errors, []);
    });
  });

  it('a change made with the CLI appears without a reload', async (t) => {
    if (!requiresRoot(t) || !requires(t, !!CHROMIUM, 'chromium is not installed')) return;
    await withPage(async (page, errors) => {
      await page.waitForFunction(() => document.body.dataset.live === 'yes', { timeout: 10_000 });
      await f!.s.ok(['volume', 'create', 'made_by_cli']);
      await page.waitForFunction(() => /made_by_cli/.test(document.getElementById('volumes')?.textContent ?? ''), { timeout: 15_000 });
      await f!.s.ok(['tag', 'tool:1', 'tool:retagged']);
      await page.waitForFunction(() => /tool:retagged/.test(document.getElementById('tree')?.textContent ?? ''), { timeout: 15_000 });
      // the filter narrows the tree to the match and what it stands on
      await page.type('#filter', 'web');
      await page.waitForFunction(() => !/tool:1/.test(document.getElementById('tree')?.textContent ?? ''), { timeout: 5_000 });
      assert.match(await page.$eval('#tree', (n) => n.textContent ?? ''), /web/);
      assert.deepEqual(errors, []);
    });
    await f!.s.ok(['volume', 'rm', 'made_by_cli']);
    await f!.s.ok(['rmi', 'tool:retagged']);
  });

  it('removing a dangling image goes through the API behind a confirmation', async (t) => {
    if (!requiresRoot(t) || !requires(t, !!CHROMIUM, 'chromium is not installed')) return;
    // a dangling image: untag tool:1 (no container uses it)
    await f!.s.ok(['tag', 'tool:1', 'tool:keep']);
    await f!.s.ok(['rmi', 'tool:1', 'tool:keep']);
    const dir = join(f!.dir, 'dangling');
    mkdirSync(join(dir, 'x'), { recursive: true });
    writeFileSync(join(dir, 'x', 'y'), 'y');
    const d = await makeDockerArchive(join(f!.dir, 'dangling.tar'), { layers: [join(f!.dir, 'base'), dir] });
    await f!.s.ok(['load', '-i', d.path]);
    await withPage(async (page, errors) => {
      const sel = `.row.image.dangling`;
      await clickSoon(page, sel);
      await clickSoon(page, '#detail button.danger');
      await page.waitForSelector('dialog[open]');
      // cancel first: nothing happens
      await page.click('dialog button[value="cancel"]');
      assert.match(await f!.s.ok(['images', '-q', '--no-trunc']), new RegExp(d.imageId.slice(7)));
      await clickSoon(page, '#detail button.danger');
      await page.waitForSelector('dialog[open]');
      await page.click('#confirm-ok');
      await page.waitForFunction(() => !document.querySelector('.row.image.dangling'), { timeout: 15_000 });
      assert.doesNotMatch(await f!.s.ok(['images', '-q', '--no-trunc']), new RegExp(d.imageId.slice(7)));
      assert.deepEqual(errors, []);
    });
  });

  it('a cross-site request to the API is refused', async (t) => {
    if (!requiresRoot(t) || !requires(t, !!CHROMIUM, 'chromium is not installed')) return;
    const port = new URL(f!.url).port;
    const evil = await raw(f!.url, 'POST', '/images/prune', { Origin: 'http://evil.example', Host: `127.0.0.1:${port}` });
    assert.equal(evil.status, 403, evil.body);
    assert.match(evil.body, /origin|cross-site/i);
    const rebinding = await raw(f!.url, 'GET', '/images/json', { Host: `evil.example:${port}` });
    assert.ok(rebinding.status === 403 || rebinding.status === 421 || rebinding.status === 400, `DNS rebinding refused: ${rebinding.status} ${rebinding.body}`);
    const same = await raw(f!.url, 'GET', '/stowage/v1/layers', { Origin: `http://127.0.0.1:${port}`, Host: `127.0.0.1:${port}` });
    assert.equal(same.status, 200);
    // and from a page of another origin in a browser: a no-cors POST reaches the server
    // (if the browser sends it at all) with Origin "null", and prunes nothing
    const dir = join(f!.dir, 'dangling2');
    mkdirSync(join(dir, 'z'), { recursive: true });
    writeFileSync(join(dir, 'z', 'z'), 'z');
    const d = await makeDockerArchive(join(f!.dir, 'dangling2.tar'), { layers: [join(f!.dir, 'base'), dir] });
    await f!.s.ok(['load', '-i', d.path]);
    const other = await launch!({ executablePath: CHROMIUM!, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const p2 = await other.newPage();
      await p2.goto('about:blank');
      const sent = await p2.evaluate(async (u: string) => {
        try { await fetch(u, { method: 'POST', mode: 'no-cors' }); return 'sent'; } catch (e) { return `error: ${String(e)}`; }
      }, new URL('/images/prune', f!.url).href);
      // Chromium may block it itself (private network access) or send it: either way the server must not act on it
      assert.match(sent, /^(sent|error: TypeError: Failed to fetch)$/);
    } finally {
      await other.close();
    }
    assert.match(await f!.s.ok(['images', '-q', '--no-trunc']), new RegExp(d.imageId.slice(7)), 'the dangling image was not pruned');
    await f!.s.ok(['rmi', d.imageId]);
  });
});

describe('the store page with a deep store', () => {
  it('keeps only the rows in view in the DOM (a 300-layer image) and scrolls to the last layer', async (t) => {
    if (!requiresRoot(t) || !requires(t, !!CHROMIUM, 'chromium is not installed')) return;
    const { launch } = await import('puppeteer-core');
    const dir = mkdtempSync(join(process.env.STOWAGE_TEST_TMP ?? tmpdir(), 'stowage-ui-deep-'));
    let server: ChildProcess | undefined;
    try {
      const s = stowage(join(dir, 'root'), 'overlay2');
      const layers: string[] = [];
      for (let i = 0; i < 300; i++) {
        const l = join(dir, `l${i}`);
        mkdirSync(l);
        writeFileSync(join(l, `f${i}`), String(i));
        layers.push(l);
      }
      const deep = await makeDockerArchive(join(dir, 'deep.tar'), { layers, repoTags: ['deep:1'] });
      await s.ok(['load', '-i', deep.path]);
      const ui = await startUi(s);
      server = ui.server;
      const browser = await launch({ executablePath: CHROMIUM!, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
      try {
        const page = await browser.newPage();
        await page.setViewport({ width: 1400, height: 900 });
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(String(e)));
        await page.goto(ui.url);
        await page.waitForSelector('.row.layer');
        const inDom = await page.$$eval('.row', (ns) => ns.length);
        const total = Number(await page.$eval('#tree', (n) => n.getAttribute('aria-rowcount')));
        assert.equal(total, 301, '300 layers and the image');
        assert.ok(inDom < 80, `only the rows in view are drawn: ${inDom}`);
        await page.focus('#tree');
        await page.keyboard.press('End');
        const last = deep.chainIds[299]!.slice(7, 19);
        await page.waitForFunction((c: string) => !!document.querySelector(`.row.layer[aria-label*="${c}"]`), { timeout: 5_000 }, last);
        assert.deepEqual(errors, []);
      } finally {
        await browser.close();
      }
    } finally {
      if (server) await stopServer(server);
      assertNoMountsUnder(dir);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
