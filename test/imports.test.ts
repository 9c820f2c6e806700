// The import graph of src/ and cmd/ has no cycle, and the low layers never
// import the daemon's configuration or the daemon: a failure names the
// cycle or the import, file by file. The fixture proves the check can fail.
import t from 'tap';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findCycles, importGraph } from './support/import-graph.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

t.test('a cycle in the fixture is found and named', async (t) => {
  const cycles = findCycles(importGraph(ROOT, ['test/fixtures/import-cycle']));
  t.same(
    cycles.map((c) => c.join(' → ')),
    ['test/fixtures/import-cycle/a.ts → test/fixtures/import-cycle/b.ts → test/fixtures/import-cycle/c.ts → test/fixtures/import-cycle/a.ts'],
  );
});

t.test('src/ and cmd/ have no import cycle', async (t) => {
  const cycles = findCycles(importGraph(ROOT, ['src', 'cmd']));
  t.same(cycles.map((c) => c.join(' → ')), [], 'import cycles');
});

// Layers that take what they need as arguments: the kernel side, bytes, net
// and cgroup helpers never see the daemon's Config, nor the daemon.
const LOW_LAYERS = ['src/bpf/', 'src/bytes.ts', 'src/net/', 'src/cgroup/', 'src/metrics/', 'src/metadata/', 'src/api/', 'src/peers/'];
const TOP = ['src/config.ts', 'src/daemon.ts', 'src/check.ts', 'cmd/kubepulse.ts'];

t.test('low layers never import the daemon or its Config', async (t) => {
  const upward: string[] = [];
  for (const [file, targets] of importGraph(ROOT, ['src', 'cmd'])) {
    if (!LOW_LAYERS.some((l) => file.startsWith(l))) continue;
    for (const target of targets) if (TOP.includes(target)) upward.push(`${file} imports ${target}`);
  }
  t.same(upward, []);
});
