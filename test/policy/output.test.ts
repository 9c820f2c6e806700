import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFilesAtomically } from '../../src/policy/output.js';

function temp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'kubepulse-output-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

t.test('writes every file, creating directories', async (t) => {
  const d = temp(t);
  const written = await writeFilesAtomically(join(d, 'out'), [
    { path: 'shop/web.yaml', content: 'a\n' },
    { path: 'db/pg.yaml', content: 'b\n' },
  ]);
  t.same(written, [join(d, 'out', 'shop/web.yaml'), join(d, 'out', 'db/pg.yaml')]);
  t.equal(readFileSync(join(d, 'out/shop/web.yaml'), 'utf8'), 'a\n');
  t.same(readdirSync(join(d, 'out/shop')), ['web.yaml'], 'no temporary files left');
});

t.test('refuses paths outside the directory and duplicates', async (t) => {
  const d = temp(t);
  await t.rejects(writeFilesAtomically(d, [{ path: '../escape.yaml', content: '' }]), /refusing to write outside/);
  await t.rejects(writeFilesAtomically(d, [{ path: 'a.yaml', content: '' }, { path: './a.yaml', content: '' }]), /same file/);
  t.same(readdirSync(d), []);
});

t.test('a failed write leaves neither targets nor temporaries', async (t) => {
  const d = temp(t);
  await writeFilesAtomically(d, [{ path: 'file', content: 'x' }]);
  // The second file needs "file" to be a directory: it fails after the first was written to its temporary name.
  await t.rejects(writeFilesAtomically(d, [{ path: 'first.yaml', content: '1' }, { path: 'file/under.yaml', content: '2' }]));
  t.same(readdirSync(d), ['file']);
  t.equal(readFileSync(join(d, 'file'), 'utf8'), 'x');
});
