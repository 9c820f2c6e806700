import t from 'tap';
import { createLogger } from '../src/log.js';

t.test('JSON lines at or above the level; fields never overwrite time, level or msg', async (t) => {
  const lines: string[] = [];
  const log = createLogger('info', (l) => lines.push(l));
  log.debug('hidden');
  log.info('hello', { probe: 'tcp' });
  log.error('bad', { level: 2, msg: 'x' });
  t.equal(lines.length, 2);
  const first = JSON.parse(lines[0] as string);
  t.match(first, { level: 'info', msg: 'hello', probe: 'tcp' });
  t.ok(!Number.isNaN(Date.parse(first.time)));
  t.match(JSON.parse(lines[1] as string), { level: 'error', msg: 'bad', field_level: 2, field_msg: 'x' });
  t.ok(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')), 'one line each');
});
