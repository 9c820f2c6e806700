// The tests are TypeScript too, but tap strips their types without checking
// them; the compiler checks src/, cmd/ and test/ together here
// (tsconfig.test.json), so a test calling an API that changed fails to
// type-check instead of passing by accident at run time.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

t.test('src/, cmd/ and test/ type-check together', async (t) => {
  const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.test.json', '--pretty', 'false'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 300_000,
  });
  t.equal(r.status, 0, (r.stdout + r.stderr).split('\n').slice(0, 40).join('\n'));
});
