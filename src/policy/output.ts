// Writes a set of generated files so that either all of them land or none:
// every file goes to a temporary name beside its target first, and only when
// all are written are they renamed into place.
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';

export interface OutputFile {
  /** Relative to the output directory. */
  path: string;
  content: string;
}

function target(dir: string, path: string): string {
  const root = resolve(dir);
  const full = resolve(root, path);
  const rel = relative(root, full);
  if (rel === '' || rel.startsWith('..') || rel.split(sep).includes('..')) {
    throw new Error(`refusing to write outside ${dir}: ${path}`);
  }
  return full;
}

export async function writeFilesAtomically(dir: string, files: readonly OutputFile[]): Promise<string[]> {
  const targets = files.map((f) => target(dir, f.path));
  const dupes = targets.filter((t, i) => targets.indexOf(t) !== i);
  if (dupes.length > 0) throw new Error(`two outputs map to the same file: ${dupes[0]}`);
  const suffix = `.kubepulse-tmp-${process.pid}-${Date.now()}`;
  const temps: string[] = [];
  try {
    for (const [i, f] of files.entries()) {
      const t = targets[i] as string;
      await mkdir(dirname(t), { recursive: true });
      const tmp = `${t}${suffix}`;
      temps.push(tmp);
      await writeFile(tmp, f.content, { mode: 0o644 });
    }
  } catch (err) {
    await Promise.all(temps.map((t) => rm(t, { force: true })));
    throw err;
  }
  for (const [i, tmp] of temps.entries()) await rename(tmp, targets[i] as string);
  return files.map((f) => join(dir, f.path));
}
