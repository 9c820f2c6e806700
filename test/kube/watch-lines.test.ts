// The watch framing: lines for any split of the stream into chunks, and a
// bound on a line that never ends.
import t from 'tap';
import { WatchLineSplitter } from '../../src/kube/watch-lines.js';

function lines(stream: string, chunkSize: number, maxChars?: number): string[] {
  const out: string[] = [];
  const splitter = new WatchLineSplitter((line) => out.push(line), maxChars);
  for (let i = 0; i < stream.length; i += chunkSize) splitter.push(stream.slice(i, i + chunkSize));
  splitter.end();
  return out;
}

const events = ['{"type":"ADDED","object":{"metadata":{"name":"a ✓"}}}', '{"type":"MODIFIED","object":{"metadata":{"name":"b"}}}', '{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}'];

t.test('every chunking gives the same lines', async (t) => {
  const stream = `${events.join('\n')}\n`;
  for (const size of [1, 2, 5, 17, 64, stream.length]) t.same(lines(stream, size), events, `chunks of ${size}`);
});

t.test('blank lines and CRLF are skipped and trimmed; a last line without newline still counts', async (t) => {
  t.same(lines(`\n\r\n${events[0]}\r\n\n  ${events[1]}  \n${events[2]}`, 3), events);
});

t.test('a line over the bound is an error before it is whole', async (t) => {
  const splitter = new WatchLineSplitter(() => t.fail('no line'), 10);
  splitter.push('{"type":');
  t.throws(() => splitter.push('"ADDED","object":{}'), /longer than 10 characters/);
  t.throws(() => lines('x'.repeat(11) + '\n', 11, 10), /longer than 10 characters/, 'also when it comes whole in one chunk');
  t.same(lines('x'.repeat(10) + '\n', 3, 10), ['x'.repeat(10)], 'the bound itself is accepted');
});

t.test('an error from the handler reaches the caller', async (t) => {
  const splitter = new WatchLineSplitter(() => {
    throw new Error('bad event');
  });
  t.throws(() => splitter.push('{}\n'), /bad event/);
});
