// The page's size budget, and that it ships: dist/page (make build) gzipped
// stays within the budget stated in the README, and `npm pack` carries it.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ROOT } from '../support/daemon.js';

/** README, "The topology page": the whole page (HTML, script, styles), gzipped. */
const BUDGET_GZIP_BYTES = 16 * 1024;
const BUDGET_RAW_BYTES = 64 * 1024;

t.test('the built page fits its budget and is in the npm package', async (t) => {
  const dir = join(ROOT, 'dist', 'page');
  const files = readdirSync(dir);
  t.ok(files.some((f) => /^app\.[A-Z0-9]+\.js$/.test(f)) && files.some((f) => /^app\.[A-Z0-9]+\.css$/.test(f)) && files.includes('index.html'), `content-hashed assets: ${files.join(', ')}`);
  let raw = 0;
  let gzip = 0;
  for (const f of files) {
    const body = readFileSync(join(dir, f));
    raw += body.length;
    gzip += gzipSync(body, { level: 9 }).length;
  }
  t.ok(gzip <= BUDGET_GZIP_BYTES, `${(gzip / 1024).toFixed(1)} KiB gzipped (budget ${BUDGET_GZIP_BYTES / 1024} KiB)`);
  t.ok(raw <= BUDGET_RAW_BYTES, `${(raw / 1024).toFixed(1)} KiB raw (budget ${BUDGET_RAW_BYTES / 1024} KiB)`);
  t.notMatch(readFileSync(join(dir, 'index.html'), 'utf8'), /https?:\/\//, 'nothing from a CDN: no absolute URL in the page');

  const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--silent'], { cwd: ROOT, encoding: 'utf8' })) as { files: { path: string }[] }[];
  const paths = packed[0]?.files.map((f) => f.path) ?? [];
  for (const f of files) t.ok(paths.includes(`dist/page/${f}`), `npm pack includes dist/page/${f}`);
});
