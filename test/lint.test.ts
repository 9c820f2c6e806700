// The linter (Biome, rules in biome.json) passes on src/, cmd/, test/ and
// bench/; a source breaking a rule is refused, so the check can fail.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIOME = join(ROOT, 'node_modules', '.bin', 'biome');

function biome(args: string[], cwd = ROOT) {
  return spawnSync(BIOME, args, { cwd, encoding: 'utf8', timeout: 120_000 });
}

t.test('the tree passes the linter', async (t) => {
  const r = biome(['lint', '--colors=off', '--max-diagnostics=50']);
  t.equal(r.status, 0, r.stdout + r.stderr);
});

t.test('a source with an unused import and == is refused', async (t) => {
  // A tree of its own with the project's rules, so nothing is written into src/.
  const dir = mkdtempSync(join(tmpdir(), 'kp-lint-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = JSON.parse(readFileSync(join(ROOT, 'biome.json'), 'utf8')) as Record<string, unknown>;
  delete config.$schema;
  writeFileSync(join(dir, 'biome.json'), JSON.stringify(config));
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', 'bad.ts'), "import { readFileSync } from 'node:fs';\nexport const same = (a: number, b: string): boolean => a == Number(b);\n");
  const r = biome(['lint', '--colors=off'], dir);
  t.not(r.status, 0);
  t.match(r.stdout + r.stderr, /noUnusedImports/);
  t.match(r.stdout + r.stderr, /noDoubleEquals/);
});
