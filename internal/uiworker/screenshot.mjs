// screenshot.mjs opens the unmodified DashFlow observability UI (served with
// our relay, `dashstream serve --ui-dir`) in headless Chromium, waits until it
// has applied our records, opens its graph view and checks what a user sees:
// no console error, the graph drawn from our schema (not the UI's demo graph)
// with the expected nodes, no corrupted or resync-needing run. It writes a
// PNG of the graph view. scripts/ui-screenshot.sh runs it.
//
// The UI's first connection asks the relay for the latest records only, so
// the program that produces the stream (--run, a shell command) is started
// once the page is connected.
//
// Usage: node screenshot.mjs --url URL --out FILE.png [--run CMD]
//        [--nodes a,b,c] [--chromium /usr/bin/chromium] [--timeout-ms 90000]

import { execSync } from 'node:child_process';
import { chromium } from 'playwright-core';

const opts = { url: '', out: '', run: '', nodes: '', chromium: '/usr/bin/chromium', timeoutMs: 90000 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
  if (!(key in opts)) {
    console.error(`screenshot.mjs: unknown flag ${argv[i]}`);
    process.exit(2);
  }
  opts[key] = key === 'timeoutMs' ? Number(argv[i + 1]) : argv[i + 1];
}
if (!opts.url || !opts.out) {
  console.error('usage: node screenshot.mjs --url URL --out FILE.png [--run CMD] [--nodes a,b,c]');
  process.exit(2);
}
const wantNodes = opts.nodes ? opts.nodes.split(',') : [];

const browser = await chromium.launch({
  executablePath: opts.chromium,
  // As root in a container, without network: no sandbox, no background traffic.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const problems = [];
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    // The UI's build links a /vite.svg icon it does not ship; a missing
    // icon is not our stream's doing.
    const url = m.location()?.url ?? '';
    if (m.text().startsWith('Failed to load resource') && /\/(vite\.svg|favicon\.ico)$/.test(url)) return;
    problems.push(`console error: ${m.text()}${url ? ` (${url})` : ''}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.goto(opts.url);
  await page.getByText('Connected', { exact: true }).first().waitFor({ timeout: opts.timeoutMs });
  // The page's websocket has sent its resume once the relay counts it as
  // a client; what is produced after that reaches it.
  for (let i = 0; i < 100; i++) {
    const health = await (await fetch(new URL('/health', opts.url))).json();
    if (health.metrics?.connected_clients > 0) break;
    await page.waitForTimeout(100);
  }
  await page.waitForTimeout(1000);
  if (opts.run) execSync(opts.run, { stdio: 'inherit', shell: '/bin/bash' });

  // Wait until the UI has applied records and the stream has gone quiet.
  const deadline = Date.now() + opts.timeoutMs;
  let applied = -1;
  let stable = 0;
  while (Date.now() < deadline && stable < 3) {
    await page.waitForTimeout(1000);
    const text = await page.evaluate(() => document.body.innerText);
    const m = text.match(/(\d[\d,]*) applied/);
    const n = m ? Number(m[1].replace(/,/g, '')) : 0;
    stable = n > 0 && n === applied ? stable + 1 : 0;
    applied = n;
  }
  if (applied <= 0) problems.push('the UI applied no record');

  await page.getByRole('tab', { name: /Graph/ }).click();
  await page.waitForTimeout(1500);
  const text = await page.evaluate(() => document.body.innerText);
  if (/\(demo\)/.test(text)) problems.push('the graph view shows the UI\'s demo graph, not ours');
  if (/corrupt/i.test(text) || /needs resync/i.test(text)) problems.push('a run is marked corrupted or needing resync');
  for (const n of wantNodes) {
    if (!text.includes(n)) problems.push(`node ${n} is not in the graph view`);
  }
  await page.screenshot({ path: opts.out });
  console.log(`screenshot.mjs: ${applied} records applied, graph view in ${opts.out}`);
} finally {
  await browser.close();
}
for (const p of problems) console.error(`FAIL ${p}`);
process.exit(problems.length === 0 ? 0 : 1);
