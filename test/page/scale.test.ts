// The page at scale, in Chromium: a synthetic 500-workload / 5,000-edge
// cluster (test/support/synthetic-topology.ts) served beside the built page
// by a stand-in producer (PageAssets + /api/v1/topology, as `kubepulse ui`
// would serve it). Measured in the browser: the first complete draw after
// navigation (≤ 1 s), each refresh's draw time, long tasks and the gaps
// between animation frames while the topology changes every second.
//
// The machine is shared (2 cores, often a load average of 30): wall-clock
// times then measure the queue for the CPU, not the page. So the ≤ 1 s and
// no-freeze bounds on wall-clock time are asserted only when the machine is
// not overloaded (load average < 1.5 per core), and printed always; what is
// asserted always is the CPU time Chromium's processes spent (CDP
// SystemInfo), which load inflates far less: a regression guard with room
// for that inflation and for the CPU model, which differs between days on
// this machine (measured at load 25–30 on one: ~1.3–1.8 s for the first
// draw, ~0.2–0.27 s a refresh; at load ~6 on a slower one, 2026-12-02:
// 2.71–2.81 s and 0.40–0.41 s; in a CI run of the whole suite, 4.21 s for
// the first draw). The guards are set at about three times the slowest of
// those, 8 s and 1 s, so that they catch a page that got several times
// dearer and not a busy day; the targets are the wall-clock bounds.
import t from 'tap';
import { createServer } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { PageAssets } from '../../src/http/page-assets.js';
import { needsChromium, openBrowser, outputDir } from '../support/browser.js';
import { ROOT } from '../support/daemon.js';
import { SyntheticCluster } from '../support/synthetic-topology.js';

const WORKLOADS = 500;
const EDGES = 5000;

t.test('500 workloads and 5,000 edges: first draw ≤ 1 s, refreshes without freezing', { ...needsChromium(), timeout: 90_000 }, async (t) => {
  const page = new PageAssets(join(ROOT, 'dist', 'page'));
  t.ok(page.available, 'dist/page is built (make build)');
  const cluster = new SyntheticCluster(WORKLOADS, EDGES);
  let served = 0;
  // After the first answer, refreshes wait until the first draw is measured.
  let release: () => void = () => undefined;
  const refreshesMayGo = new Promise<void>((r) => (release = r));
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/api/v1/topology') {
      const answer = () => {
        served++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(cluster.next()));
      };
      if (served === 0) answer();
      else void refreshesMayGo.then(answer);
    } else if (!page.serve(req, res, url.pathname)) res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  const browser = await openBrowser();
  t.teardown(browser.close);
  const p = browser.page;
  // Before the page's own script: every long task, and every animation frame's time.
  await p.addInitScript(() => {
    const w = window as unknown as { longTasks: number[]; frames: number[] };
    w.longTasks = [];
    w.frames = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.longTasks.push(e.duration);
    }).observe({ type: 'longtask', buffered: true });
    const frame = (ts: number) => {
      w.frames.push(ts);
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
  const cdp = await browser.browser.newBrowserCDPSession();
  /** CPU seconds used so far by all of Chromium's processes (browser, renderer, GPU, network). */
  const cpu = async (): Promise<number> =>
    ((await cdp.send('SystemInfo.getProcessInfo' as never)) as { processInfo: { cpuTime: number }[] }).processInfo.reduce((sum, p) => sum + p.cpuTime, 0);
  const perType = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const p of ((await cdp.send('SystemInfo.getProcessInfo' as never)) as { processInfo: { type: string; cpuTime: number }[] }).processInfo) out[p.type] = (out[p.type] ?? 0) + p.cpuTime;
    return out;
  };
  const idle = (): boolean => (loadavg()[0] as number) / cpus().length < 1.5;
  const cpuBefore = await cpu();
  const typesBefore = await perType();
  await p.goto(`${base}/`);
  await p.waitForFunction(() => document.body.dataset.renders === '1', undefined, { timeout: 20_000 });
  const first = await p.evaluate(() => {
    const mark = performance.getEntriesByName('kubepulse-first-render')[0] as PerformanceEntry;
    const draw = performance.getEntriesByName('kubepulse-draw')[0] as PerformanceEntry;
    const edges = [...document.querySelectorAll('path.edge')].reduce((n, p) => n + Number(p.getAttribute('data-edges') ?? 1), 0);
    return { atMs: mark.startTime, drawMs: draw.duration, vertices: document.querySelectorAll('g.vertex').length, edges };
  });
  const firstCpu = (await cpu()) - cpuBefore;
  const typesAfter = await perType();
  t.comment(`CPU by process: ${Object.entries(typesAfter).map(([k, v]) => `${k} ${((v - (typesBefore[k] ?? 0)) * 1000).toFixed(0)} ms`).join(', ')}`);
  t.equal(first.vertices, WORKLOADS + 55, `${first.vertices} vertices drawn`);
  t.equal(first.edges, EDGES, `${first.edges} edges drawn`);
  // The target is the wall clock (≤ 1 s, asserted below when the machine is
  // not overloaded); CPU summed over all of Chromium's processes (browser
  // start-up included) is the bound that holds at any load.
  t.ok(firstCpu <= 8, `navigation to first complete draw took ${(firstCpu * 1000).toFixed(0)} ms of CPU, all Chromium processes (≤ 8 s)`);
  const wall = `first complete draw ${first.atMs.toFixed(0)} ms after navigation, the draw itself ${first.drawMs.toFixed(0)} ms, load average ${loadavg()[0]?.toFixed(1)}`;
  if (idle()) t.ok(first.atMs <= 1000, `${wall} (≤ 1 s)`);
  else t.comment(`${wall} (machine overloaded: not asserted)`);
  await p.screenshot({ path: join(outputDir('page'), 'scale.png') });

  // Six refreshes: the graph changes every second (counts, new vertices and edges).
  const startRenders = Number(await p.evaluate(() => document.body.dataset.renders));
  const since = await p.evaluate(() => performance.now());
  const cpuRefresh = await cpu();
  release();
  await p.waitForFunction((n) => Number(document.body.dataset.renders) >= n, startRenders + 6, { timeout: 30_000, polling: 100 });
  const updates = await p.evaluate((from) => {
    const w = window as unknown as { longTasks: number[]; frames: number[] };
    const draws = performance.getEntriesByName('kubepulse-draw').filter((e) => e.startTime >= from).map((e) => e.duration);
    const frames = w.frames.filter((f) => f >= from);
    const gaps = frames.slice(1).map((f, i) => f - (frames[i] as number));
    const tasks = performance.getEntriesByType('longtask').filter((e) => e.startTime >= from).map((e) => e.duration);
    return { draws, maxGap: Math.max(...gaps), frames: frames.length, seconds: (performance.now() - from) / 1000, longTasks: tasks };
  }, since);
  const perRefreshCpu = ((await cpu()) - cpuRefresh) / Math.max(1, updates.draws.length);
  const median = [...updates.draws].sort((a, b) => a - b)[Math.floor(updates.draws.length / 2)] as number;
  const longest = Math.max(0, ...updates.longTasks);
  t.comment(`refresh draws (ms): ${updates.draws.map((d) => d.toFixed(0)).join(', ')}; long tasks: ${updates.longTasks.length}, longest ${longest.toFixed(0)} ms; frames ${updates.frames} in ${updates.seconds.toFixed(1)} s, longest gap ${updates.maxGap.toFixed(0)} ms`);
  t.ok(updates.draws.length >= 6, `${updates.draws.length} refreshes drawn`);
  t.ok(perRefreshCpu <= 1, `a refresh costs ${(perRefreshCpu * 1000).toFixed(0)} ms of CPU (≤ 1 s: several times dearer than measured)`);
  if (idle()) {
    t.ok(median <= 250, `median refresh draw ${median.toFixed(0)} ms (≤ 250 ms)`);
    t.ok(longest <= 500, `longest task while refreshing ${longest.toFixed(0)} ms (≤ 500 ms: the page never freezes)`);
    t.ok(updates.maxGap <= 600, `longest gap between frames ${updates.maxGap.toFixed(0)} ms (≤ 600 ms)`);
  } else t.comment(`machine overloaded (load average ${loadavg()[0]?.toFixed(1)}): wall-clock bounds not asserted`);
  t.ok(served >= 7, `the page fetched the topology ${served} times`);
  t.same(browser.errors, [], 'no console errors');
});
