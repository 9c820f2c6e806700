// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and time per file,
// idle excluded, as shares of the busy time.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

/**
 * window: {fromMs, toMs} relative to the profile's start, to leave out start-up and shutdown
 * (the profile runs from process start to exit).
 */
export function summarizeProfile(path, repoRoot, top = 15, window = null) {
  const prof = JSON.parse(readFileSync(path, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  const { samples = [], timeDeltas = [] } = prof;
  let at = 0; // µs since the profile's start
  for (let i = 0; i < samples.length; i++) {
    at += timeDeltas[i] ?? 0;
    const dt = timeDeltas[i + 1] ?? 0; // a sample's time runs until the next sample
    if (window && (at < window.fromMs * 1000 || at > window.toMs * 1000)) continue;
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + Math.max(0, dt));
  }
  const where = (cf) => {
    let url = cf.url || '';
    if (url.startsWith('file://')) url = relative(repoRoot, url.slice('file://'.length));
    return url;
  };
  const fnTotals = new Map();
  const fileTotals = new Map();
  let busy = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const cf = node.callFrame;
    if (cf.functionName === '(idle)') {
      idle += us;
      continue;
    }
    busy += us;
    const url = where(cf);
    const key = `${cf.functionName || '(anonymous)'} ${url ? `${url}:${cf.lineNumber + 1}` : ''}`.trim();
    fnTotals.set(key, (fnTotals.get(key) ?? 0) + us);
    const file = url
      ? url.includes('node_modules/')
        ? `node_modules/${url.split('node_modules/').pop().split('/').slice(0, url.includes('node_modules/@') ? 2 : 1).join('/')}`
        : url
      : cf.functionName; // (garbage collector), (program), native builtins
    fileTotals.set(file, (fileTotals.get(file) ?? 0) + us);
  }
  const rank = (m) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: +(us / 1000).toFixed(1), pctOfBusy: +((100 * us) / (busy || 1)).toFixed(1) }));
  return {
    file: path,
    wallMs: window ? +(window.toMs - window.fromMs).toFixed(0) : +((prof.endTime - prof.startTime) / 1000).toFixed(0),
    window,
    busyMs: +(busy / 1000).toFixed(1),
    idleMs: +(idle / 1000).toFixed(1),
    topFunctions: rank(fnTotals),
    topFiles: rank(fileTotals),
  };
}
