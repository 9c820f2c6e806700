// A seeded generator of hostile DNS messages: valid queries beside
// truncated, oversized, compression-looped, multi-question and EDNS-laden
// ones, labels and names over their limits, reserved label types, empty
// question sections and plain noise. The same seed gives the same messages,
// so a failure can be replayed.

export type Rand = () => number;

/** mulberry32: small, fast, good enough to spread test cases. */
export function seededRandom(seed: number): Rand {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const HOSTILE_KINDS = [
  'valid',
  'edns',
  'multi_question',
  'truncated',
  'oversized',
  'pointer_loop',
  'forward_pointer',
  'label_too_long',
  'bad_label_type',
  'name_too_long',
  'no_question',
  'qr_set',
  'noise',
] as const;
export type HostileKind = (typeof HOSTILE_KINDS)[number];

const int = (r: Rand, n: number): number => Math.floor(r() * n);
const u16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];
const QTYPES = [1, 28, 5, 15, 16, 33, 12, 65, 255, 99, 4242];
const TLDS = ['com', 'org', 'co.uk', 'cluster.local', 'in-addr.arpa', 'internal', 'xn--p1ai', 'local'];

function label(r: Rand): number[] {
  const len = 1 + int(r, 20);
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789-_';
  const out = [len];
  for (let i = 0; i < len; i++) out.push(chars.charCodeAt(int(r, chars.length)));
  return out;
}

/** A name under one of a few thousand registered domains, so the domain cap is reached. */
function name(r: Rand): number[] {
  const out: number[] = [];
  for (let i = int(r, 3); i > 0; i--) out.push(...label(r));
  out.push(...[6, ...Buffer.from(`d${String(int(r, 5000)).padStart(5, '0')}`.slice(0, 6))]);
  for (const l of TLDS[int(r, TLDS.length)]!.split('.')) out.push(l.length, ...Buffer.from(l));
  out.push(0);
  return out;
}

function header(r: Rand, flags: number, qd: number, ar = 0): number[] {
  return [...u16(int(r, 65536)), ...u16(flags), ...u16(qd), 0, 0, 0, 0, ...u16(ar)];
}

const question = (r: Rand): number[] => [...name(r), ...u16(QTYPES[int(r, QTYPES.length)]!), 0, 1];
// EDNS OPT record (RFC 6891) carrying a padding option (RFC 7830).
const opt = (padding: number): number[] => [0, 0, 41, ...u16(1232), 0, 0, 0x80, 0, ...u16(padding + 4), 0, 12, ...u16(padding), ...new Array<number>(padding).fill(0)];

export function hostileMessage(r: Rand, kind: HostileKind = HOSTILE_KINDS[int(r, HOSTILE_KINDS.length)]!): { kind: HostileKind; bytes: Buffer } {
  const rd = 0x0100;
  let b: number[];
  switch (kind) {
    case 'valid':
      b = [...header(r, rd, 1), ...question(r)];
      break;
    case 'edns':
      b = [...header(r, rd, 1, 1), ...question(r), ...opt(int(r, 64))];
      break;
    case 'multi_question':
      b = [...header(r, rd, 2 + int(r, 3)), ...question(r), ...question(r), ...question(r)];
      break;
    case 'truncated': {
      const whole = [...header(r, rd, 1), ...question(r)];
      b = whole.slice(0, 1 + int(r, whole.length - 1));
      break;
    }
    case 'oversized':
      // Past the 512 bytes the probe captures: the question still parses.
      b = [...header(r, rd, 1, 1), ...question(r), ...opt(600 + int(r, 800))];
      break;
    case 'pointer_loop':
      b = [...header(r, rd, 1), 0xc0, 12, 0, 1, 0, 1];
      break;
    case 'forward_pointer':
      b = [...header(r, rd, 1), ...label(r), 0xc0, 40 + int(r, 200), 0, 1, 0, 1];
      break;
    case 'label_too_long':
      b = [...header(r, rd, 1), 64 + int(r, 64), ...new Array<number>(130).fill(0x61), 0, 0, 1, 0, 1];
      break;
    case 'bad_label_type':
      b = [...header(r, rd, 1), 0x80 + int(r, 64), 0x61, 0, 0, 1, 0, 1];
      break;
    case 'name_too_long': {
      const labels: number[] = [];
      for (let i = 0; i < 5; i++) labels.push(60, ...new Array<number>(60).fill(0x62));
      b = [...header(r, rd, 1), ...labels, 0, 0, 1, 0, 1];
      break;
    }
    case 'no_question':
      b = header(r, rd, 0);
      break;
    case 'qr_set':
      // A "response" sent to the server port: what a reflection attack looks like from here.
      b = [...header(r, 0x8180, 1), ...question(r)];
      break;
    case 'noise':
      b = Array.from({ length: 1 + int(r, 600) }, () => int(r, 256));
      break;
  }
  return { kind, bytes: Buffer.from(b) };
}
