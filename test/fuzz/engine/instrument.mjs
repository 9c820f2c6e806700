// Coverage for the fuzzer: a copy of dist/src with every module instrumented
// by istanbul (the instrumenter jsfuzz itself uses), under build/fuzz/dist.
// A copy rather than a loader hook because the compiled code is ES modules,
// which jsfuzz's require hook never sees; relative imports keep working in the
// copy, and bare ones (psl, prom-client) still resolve to the repo's
// node_modules by walking up from build/.

import { createRequire } from 'node:module';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const require = createRequire(import.meta.url);

/** Instruments dist/src/**.js into <out>/src, skipping files already up to date. Returns <out>. */
export function instrumentDist(root, out) {
  const { createInstrumenter } = require('istanbul-lib-instrument');
  const instrumenter = createInstrumenter({ esModules: true, compact: true, coverageVariable: '__coverage__' });
  const src = join(root, 'dist', 'src');
  statSync(src); // a missing build fails here, with the path in the message
  let count = 0;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.js')) {
        const target = join(out, relative(join(root, 'dist'), path));
        let fresh = false;
        try {
          fresh = statSync(target).mtimeMs >= statSync(path).mtimeMs;
        } catch {}
        if (fresh) continue;
        mkdirSync(dirname(target), { recursive: true });
        // The file name istanbul records is the original one, so reports name dist/ files.
        writeFileSync(target, instrumenter.instrumentSync(readFileSync(path, 'utf8'), path));
        count++;
      }
    }
  };
  walk(src);
  return { out, instrumented: count };
}
