// Ring sizes from record size and rate (src/bpf/ring-size.ts).
import t from 'tap';
import { DRAIN_STEP_MS, MIN_RING_BYTES, recordsPerSecondFor, ringBytesFor, ringRecordBytes } from '../../src/bpf/ring-size.js';

t.test('a record takes the ring header and rounds up to 8', async (t) => {
  t.equal(ringRecordBytes(64), 72);
  t.equal(ringRecordBytes(65), 80);
  t.equal(ringRecordBytes(1), 16);
});

t.test('four drain steps of records at the rate, rounded up to a power of two', async (t) => {
  const cases: Array<[recordBytes: number, perSecond: number, bytes: number]> = [
    [64, 100_000, 512 * 1024], // 72 B × 100k/s × 40 ms = 288,000
    [64, 200_000, 1024 * 1024], // 576,000
    [192, 100_000, 1024 * 1024], // 200 B × 100k/s × 40 ms = 800,000
    [64, 1, MIN_RING_BYTES], // never below a page
    [64, 1_421, MIN_RING_BYTES], // 72 × 1,421 × 0.04 = 4,092.5: still one page
    [64, 1_423, 2 * MIN_RING_BYTES],
  ];
  for (const [recordBytes, perSecond, bytes] of cases) {
    const got = ringBytesFor({ recordBytes, recordsPerSecond: perSecond });
    t.equal(got, bytes, `${recordBytes} B × ${perSecond}/s`);
    t.ok(got === MIN_RING_BYTES || got / 2 < (4 * ringRecordBytes(recordBytes) * perSecond * DRAIN_STEP_MS) / 1000, 'the smallest that holds it');
    t.ok(recordsPerSecondFor(got, recordBytes) >= perSecond, 'and it takes that rate back');
  }
});

t.test('a demand without size or rate is refused', async (t) => {
  t.throws(() => ringBytesFor({ recordBytes: 0, recordsPerSecond: 10 }), RangeError);
  t.throws(() => ringBytesFor({ recordBytes: 64, recordsPerSecond: Number.NaN }), RangeError);
});
