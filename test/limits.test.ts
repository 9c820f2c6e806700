import t from 'tap';
import { MIN_OPEN_FILES, openFileLimit, openFileLimitProblem } from '../src/limits.js';

const limits = (soft: string, hard: string): string =>
  `Limit                     Soft Limit           Hard Limit           Units     \nMax processes             95367                95367                processes \nMax open files            ${soft.padEnd(21)}${hard.padEnd(21)}files     \n`;

t.test('the soft open-file limit from /proc/self/limits', async (t) => {
  t.equal(openFileLimit(limits('1024', '524288')), 1024);
  t.equal(openFileLimit(limits('unlimited', 'unlimited')), Infinity);
  t.equal(openFileLimit('garbage'), undefined);
  t.ok((openFileLimit() ?? 0) > 0, 'this process has one');
});

t.test('a limit below what loading needs is one line naming the fix', async (t) => {
  t.match(openFileLimitProblem(256), /^the open-file limit \(RLIMIT_NOFILE\) is 256; needs at least 1024 \(raise it with ulimit -n/);
  t.notOk(openFileLimitProblem(256)?.includes('\n'));
  t.equal(openFileLimitProblem(MIN_OPEN_FILES), undefined);
});
