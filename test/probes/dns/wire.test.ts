import t, { type Test } from 'tap';
import dgram from 'node:dgram';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  newDnsMessageFields,
  parseDnsMessage,
  parseDnsName,
  readDnsMessage,
  isDnsParseFailure,
  MAX_POINTER_JUMPS,
  type DnsMessage,
  type DnsParseResult,
} from '../../../src/probes/dns/wire.js';

const execFileP = promisify(execFile);
const FIXTURES = fileURLToPath(new URL('./fixtures/packets.json', import.meta.url));
const DIG = '/usr/bin/dig';
const DNSMASQ = '/usr/sbin/dnsmasq';

interface Fixture {
  note: string;
  hex: string;
  expect: Partial<DnsMessage>;
}

function mustParse(t: Test, r: DnsParseResult): DnsMessage {
  if (isDnsParseFailure(r)) {
    t.fail(`unexpected parse failure: ${r.error}`);
    throw new Error(r.error);
  }
  return r;
}

// Independent of the parser under test: where the first question ends in a
// message whose first name is uncompressed.
function questionEnd(msg: Uint8Array): number {
  let p = 12;
  while (msg[p] !== 0) p += 1 + msg[p]!;
  return p + 1 + 4;
}

function header(id: number, flags: number, qd: number, an = 0, ns = 0, ar = 0): number[] {
  return [id >> 8, id & 0xff, flags >> 8, flags & 0xff, 0, qd, 0, an, 0, ns, 0, ar];
}

function wireName(name: string): number[] {
  const out: number[] = [];
  for (const label of name.split('.')) {
    if (label === '') continue;
    out.push(label.length, ...Buffer.from(label, 'latin1'));
  }
  out.push(0);
  return out;
}

function query(name: string, qtype = 1, id = 0x1234): Uint8Array {
  return Uint8Array.from([...header(id, 0x0100, 1), ...wireName(name), qtype >> 8, qtype & 0xff, 0, 1]);
}

/** A response to `q` as a server would build it: question echoed, one answer compressed against it. */
function respond(q: Uint8Array, rcode: number, tc = false): Uint8Array {
  const qEnd = questionEnd(q);
  const qtype = (q[qEnd - 4]! << 8) | q[qEnd - 3]!;
  const rdata = qtype === 28 ? [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 1] : [192, 0, 2, 1];
  const answer = rcode === 0 && (qtype === 1 || qtype === 28);
  const flags = 0x8180 | (tc ? 0x0200 : 0) | rcode;
  return Uint8Array.from([
    ...header((q[0]! << 8) | q[1]!, flags, 1, answer ? 1 : 0),
    ...q.subarray(12, qEnd),
    ...(answer ? [0xc0, 0x0c, qtype >> 8, qtype & 0xff, 0, 1, 0, 0, 0, 60, 0, rdata.length, ...rdata] : []),
  ]);
}

// Names the capture server answers with a chosen rcode.
function rcodeFor(qname: string): number {
  if (qname.startsWith('nx.')) return 3;
  if (qname.startsWith('fail.')) return 2;
  if (qname.startsWith('refused.')) return 5;
  return 0;
}

interface Capture {
  query: Uint8Array;
  response: Uint8Array;
}

/**
 * A UDP server on loopback that records each query it receives and either
 * answers it itself (rcode chosen by name) or relays it to an upstream
 * server (dnsmasq) and records that server's real response.
 */
async function captureServer(upstreamPort?: number) {
  const sock = dgram.createSocket('udp4');
  const captures: Capture[] = [];
  const upstream = upstreamPort === undefined ? undefined : dgram.createSocket('udp4');
  const waiting = new Map<number, { q: Uint8Array; port: number; address: string }>();
  upstream?.on('message', (resp) => {
    const id = (resp[0]! << 8) | resp[1]!;
    const w = waiting.get(id);
    if (w === undefined) return;
    waiting.delete(id);
    captures.push({ query: w.q, response: new Uint8Array(resp) });
    sock.send(resp, w.port, w.address);
  });
  sock.on('message', (msg, rinfo) => {
    const q = new Uint8Array(msg);
    if (upstream !== undefined) {
      waiting.set((q[0]! << 8) | q[1]!, { q, port: rinfo.port, address: rinfo.address });
      upstream.send(msg, upstreamPort!, '127.0.0.1');
      return;
    }
    const parsed = parseDnsMessage(q, 0, q.length);
    const rcode = isDnsParseFailure(parsed) ? 1 : rcodeFor(parsed.qname);
    const response = respond(q, rcode);
    captures.push({ query: q, response });
    sock.send(response, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  if (upstream !== undefined) await new Promise<void>((resolve) => upstream.bind(0, '127.0.0.1', resolve));
  return {
    port: sock.address().port,
    captures,
    close() {
      sock.close();
      upstream?.close();
    },
  };
}

async function dig(port: number, ...args: string[]) {
  const { stdout } = await execFileP(DIG, [`@127.0.0.1`, '-p', String(port), '+tries=1', '+time=2', ...args]);
  return stdout;
}

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function startDnsmasq(): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freeUdpPort();
  const proc = spawn(
    DNSMASQ,
    [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      `--port=${port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      '--pid-file=',
      '--user=' + (process.getuid?.() === 0 ? 'root' : String(process.env.USER ?? 'nobody')),
      '--address=/example.co.uk/192.0.2.1',
      '--address=/example.co.uk/2001:db8::1',
      '--address=/nx.test/',
    ],
    { stdio: 'ignore' },
  );
  // Wait until it answers.
  for (let i = 0; i < 50; i++) {
    try {
      const out = await dig(port, 'ready.example.co.uk', '+time=1');
      if (out.includes('status: NOERROR')) return { port, proc };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill();
  throw new Error('dnsmasq did not start');
}

function checkAllPrefixes(t: Test, packet: Uint8Array, note: string) {
  const full = mustParse(t, parseDnsMessage(packet, 0, packet.length));
  const qEnd = questionEnd(packet);
  let failures = 0;
  for (let len = 0; len <= packet.length; len++) {
    let r: DnsParseResult;
    try {
      r = parseDnsMessage(packet, 0, len);
    } catch (e) {
      t.fail(`${note}: threw on prefix ${len}: ${String(e)}`);
      return;
    }
    if (len < qEnd) {
      if (!isDnsParseFailure(r) || r.error !== 'truncated') {
        failures++;
        t.fail(`${note}: prefix ${len} < question end ${qEnd} should be truncated, got ${JSON.stringify(r)}`);
      }
    } else if (isDnsParseFailure(r) || JSON.stringify(r) !== JSON.stringify(full)) {
      failures++;
      t.fail(`${note}: prefix ${len} holds the whole question and should parse as the full packet`);
    }
  }
  t.equal(failures, 0, `${note}: all ${packet.length + 1} prefixes behave`);
}

const NO_DIG = existsSync(DIG) ? false : `${DIG} not installed`;
const NO_DNSMASQ = existsSync(DNSMASQ) ? false : `${DNSMASQ} not installed`;

t.test('real queries from dig and node, answered by a test server', { skip: NO_DIG }, async (t) => {
  const server = await captureServer();
  t.teardown(() => server.close());

  const out = await dig(server.port, 'WWW.Example.CO.uk', 'A');
  t.match(out, /status: NOERROR/, 'dig accepted the built response');
  t.match(out, /192\.0\.2\.1/);
  t.match(await dig(server.port, 'nx.Example.com', 'AAAA'), /status: NXDOMAIN/);
  t.match(await dig(server.port, 'fail.example.com', 'SRV'), /status: SERVFAIL/);
  t.match(await dig(server.port, '-x', '192.0.2.10'), /status: NOERROR/);

  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([`127.0.0.1:${server.port}`]);
  t.same(await resolver.resolve4('Node.Example.ORG'), ['192.0.2.1']);

  t.equal(server.captures.length, 5);
  const expected = [
    { qname: 'www.example.co.uk', qtype: 1, rcode: 0 },
    { qname: 'nx.example.com', qtype: 28, rcode: 3 },
    { qname: 'fail.example.com', qtype: 33, rcode: 2 },
    { qname: '10.2.0.192.in-addr.arpa', qtype: 12, rcode: 0 },
    { qname: 'node.example.org', qtype: 1, rcode: 0 },
  ];
  server.captures.forEach((c, i) => {
    const want = expected[i]!;
    const q = mustParse(t, parseDnsMessage(c.query, 0, c.query.length));
    t.match(q, { isResponse: false, opcode: 0, rcode: 0, qdcount: 1, qclass: 1, qname: want.qname, qtype: want.qtype });
    const r = mustParse(t, parseDnsMessage(c.response, 0, c.response.length));
    t.match(r, { isResponse: true, id: q.id, rcode: want.rcode, qname: want.qname, qtype: want.qtype });
    checkAllPrefixes(t, c.query, `live query ${want.qname}`);
  });
  // dig uses random ids; two queries sharing one would be a 1/65536 fluke.
  t.not(
    mustParse(t, parseDnsMessage(server.captures[0]!.query, 0, server.captures[0]!.query.length)).id,
    mustParse(t, parseDnsMessage(server.captures[1]!.query, 0, server.captures[1]!.query.length)).id,
  );
});

t.test('real responses from dnsmasq', { skip: NO_DIG || NO_DNSMASQ }, async (t) => {
  const dm = await startDnsmasq();
  t.teardown(() => {
    dm.proc.kill();
  });
  const relay = await captureServer(dm.port);
  t.teardown(() => relay.close());

  t.match(await dig(relay.port, 'WWW.Example.CO.uk', 'A'), /status: NOERROR/);
  t.match(await dig(relay.port, 'api.example.co.uk', 'AAAA'), /status: NOERROR/);
  t.match(await dig(relay.port, 'a.nx.test', 'A'), /status: NXDOMAIN/);
  t.match(await dig(relay.port, 'unknown.example.org', 'MX'), /status: REFUSED/);
  const want = [
    { qname: 'www.example.co.uk', qtype: 1, rcode: 0 },
    { qname: 'api.example.co.uk', qtype: 28, rcode: 0 },
    { qname: 'a.nx.test', qtype: 1, rcode: 3 },
    { qname: 'unknown.example.org', qtype: 15, rcode: 5 },
  ];
  t.equal(relay.captures.length, want.length);
  const fixtures: Fixture[] = [];
  relay.captures.forEach((c, i) => {
    const w = want[i]!;
    const q = mustParse(t, parseDnsMessage(c.query, 0, c.query.length));
    const r = mustParse(t, parseDnsMessage(c.response, 0, c.response.length));
    t.match(q, { isResponse: false, qname: w.qname, qtype: w.qtype });
    t.match(r, { isResponse: true, id: q.id, qname: w.qname, qtype: w.qtype, rcode: w.rcode, truncated: false });
    checkAllPrefixes(t, c.response, `dnsmasq response ${w.qname}`);
    fixtures.push(
      { note: `dig query ${w.qname}`, hex: Buffer.from(c.query).toString('hex'), expect: { ...w, rcode: 0, isResponse: false } },
      { note: `dnsmasq response ${w.qname}`, hex: Buffer.from(c.response).toString('hex'), expect: { ...w, isResponse: true } },
    );
  });
  if (process.env.KUBEPULSE_WRITE_DNS_FIXTURES === '1') {
    writeFileSync(FIXTURES, JSON.stringify(fixtures, null, 2) + '\n');
  }
});

t.test('committed fixtures (captured from dig and dnsmasq)', async (t) => {
  const fixtures = JSON.parse(readFileSync(FIXTURES, 'utf8')) as Fixture[];
  t.ok(fixtures.length >= 8, 'fixtures present');
  for (const f of fixtures) {
    const packet = Uint8Array.from(Buffer.from(f.hex, 'hex'));
    t.match(mustParse(t, parseDnsMessage(packet, 0, packet.length)), f.expect, f.note);
    checkAllPrefixes(t, packet, f.note);

    // The same bytes inside a larger batch buffer, surrounded by junk that
    // would parse differently if any offset were taken from the wrong base.
    const batch = new Uint8Array(packet.length + 100).fill(0xc0);
    batch.set(packet, 37);
    t.same(parseDnsMessage(batch, 37, packet.length), parseDnsMessage(packet, 0, packet.length), `${f.note} at an offset`);
  }
});

t.test('flags, TC bit and rcode', async (t) => {
  const q = query('Example.COM', 1, 0xbeef);
  t.match(mustParse(t, parseDnsMessage(q, 0, q.length)), {
    id: 0xbeef,
    isResponse: false,
    opcode: 0,
    rcode: 0,
    truncated: false,
    qdcount: 1,
    qname: 'example.com',
    qtype: 1,
    qclass: 1,
  });
  const tc = respond(q, 2, true);
  t.match(mustParse(t, parseDnsMessage(tc, 0, tc.length)), { id: 0xbeef, isResponse: true, truncated: true, rcode: 2 });
  // NOTIFY (opcode 4) with every rcode bit set.
  const notify = Uint8Array.from([...header(7, 0x2000 | 0x8000 | 0x0f, 1), ...wireName('zone.example'), 0, 6, 0, 1]);
  t.match(mustParse(t, parseDnsMessage(notify, 0, notify.length)), { opcode: 4, rcode: 15, qtype: 6, isResponse: true });
});

t.test('names: root, case, escaping, length limits', async (t) => {
  const root = Uint8Array.from([...header(1, 0x0100, 1), 0, 0, 2, 0, 1]);
  t.match(mustParse(t, parseDnsMessage(root, 0, root.length)), { qname: '.', qtype: 2 });

  const odd = Uint8Array.from([...header(1, 0x0100, 1), 7, 0x61, 0x2e, 0x42, 0x5c, 0x00, 0x20, 0xc9, 3, 0x78, 0x6e, 0x2d, 0, 0, 1, 0, 1]);
  t.equal(mustParse(t, parseDnsMessage(odd, 0, odd.length)).qname, 'a\\.b\\\\\\000\\032\\201.xn-');

  const puny = query('xn--bcher-kva.example', 1);
  t.equal(mustParse(t, parseDnsMessage(puny, 0, puny.length)).qname, 'xn--bcher-kva.example');

  const l63 = 'a'.repeat(63);
  // 3 × (1 + 63) + (1 + 61) + 1 = 255 octets: the longest legal name.
  const longest = `${l63}.${l63}.${l63}.${'b'.repeat(61)}`;
  const q255 = query(longest);
  t.equal(mustParse(t, parseDnsMessage(q255, 0, q255.length)).qname, longest);
  t.equal(longest.length, 253);
  const q256 = query(`${l63}.${l63}.${l63}.${'b'.repeat(62)}`);
  t.same(parseDnsMessage(q256, 0, q256.length), { error: 'name_too_long' });
  // Many short labels over the limit, too.
  const many = query(new Array(128).fill('a').join('.'));
  t.same(parseDnsMessage(many, 0, many.length), { error: 'name_too_long' });
});

t.test('readDnsMessage: into one reused object, a recent name as the same string, every name right', async (t) => {
  const out = newDnsMessageFields();
  const a = query('www.example.com', 28);
  t.equal(readDnsMessage(a, 0, a.length, true, out), null);
  t.match(out, { qname: 'www.example.com', qtype: 28, isResponse: false, qdcount: 1 });
  const first = out.qname;
  const b = query('WWW.Example.COM', 1);
  t.equal(readDnsMessage(b, 0, b.length, true, out), null);
  t.equal(out.qname, first, 'the same name (case folded) decodes to the string decoded before');
  t.equal(out.qtype, 1, 'the rest is this message');
  t.equal(readDnsMessage(b, 0, b.length, false, out), null);
  t.equal(out.qname, '', 'without the name: none built');
  t.equal(readDnsMessage(b, 0, 11, true, out), 'truncated');
  // Far more names than the table has slots, with their collisions: each still decodes to itself.
  const names = Array.from({ length: 5000 }, (_, i) => `h${i}.d${i % 7}.example${i % 3 ? '' : '-x'}.com`);
  for (let round = 0; round < 2; round++) {
    let wrong = 0;
    for (const name of names) {
      const m = query(name);
      if (readDnsMessage(m, 0, m.length, true, out) !== null || out.qname !== name) wrong++;
    }
    t.equal(wrong, 0, `round ${round + 1}: 5000 names, none wrong`);
  }
  const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(10)}`;
  const lq = query(long);
  readDnsMessage(lq, 0, lq.length, true, out);
  t.equal(out.qname, long, 'a name too long for the table is built each time');
});

t.test('hostile inputs', async (t) => {
  const cases: Array<[string, number[], string]> = [
    ['zero-length', [], 'truncated'],
    ['header only', header(1, 0x0100, 1), 'truncated'],
    ['short header', header(1, 0x0100, 1).slice(0, 11), 'truncated'],
    ['query with qdcount 0', [...header(1, 0x0100, 0), ...wireName('example.com'), 0, 1, 0, 1], 'no_question'],
    ['label length 64', [...header(1, 0x0100, 1), 64, ...new Array<number>(64).fill(0x61), 0, 0, 1, 0, 1], 'label_too_long'],
    ['label length 127', [...header(1, 0x0100, 1), 127, ...new Array<number>(127).fill(0x61), 0, 0, 1, 0, 1], 'label_too_long'],
    ['reserved label type 0x80', [...header(1, 0x0100, 1), 0x80, 0, 0, 1, 0, 1], 'bad_label_type'],
    ['reserved label type 0xbf', [...header(1, 0x0100, 1), 1, 0x61, 0xbf, 0, 0, 1, 0, 1], 'bad_label_type'],
    ['pointer to itself', [...header(1, 0x0100, 1), 0xc0, 12, 0, 1, 0, 1], 'pointer_loop'],
    ['pointer back to its own name', [...header(1, 0x0100, 1), 1, 0x61, 0xc0, 12, 0, 1, 0, 1], 'pointer_loop'],
    ['forward pointer', [...header(1, 0x0100, 1), 0xc0, 16, 0, 1, 0, 1, 1, 0x61, 0], 'bad_pointer'],
    ['pointer out of bounds', [...header(1, 0x0100, 1), 0xff, 0xff, 0, 1, 0, 1], 'bad_pointer'],
    ['pointer into the header', [...header(1, 0x0100, 1), 1, 0x61, 0xc0, 4, 0, 1, 0, 1], 'bad_pointer'],
    ['pointer cut in half', [...header(1, 0x0100, 1), 1, 0x61, 0xc0], 'truncated'],
    ['label runs past the end', [...header(1, 0x0100, 1), 10, 0x61, 0x62], 'truncated'],
    ['name without terminator', [...header(1, 0x0100, 1), 1, 0x61], 'truncated'],
    ['question without type', [...header(1, 0x0100, 1), 0, 0, 1, 0], 'truncated'],
  ];
  for (const [note, bytes, error] of cases) {
    const b = Uint8Array.from(bytes);
    t.same(parseDnsMessage(b, 0, b.length), { error }, note);
  }

  const q = query('example.com');
  t.same(parseDnsMessage(q, -1, 5), { error: 'bad_range' });
  t.same(parseDnsMessage(q, 0, q.length + 1), { error: 'bad_range' });
  t.same(parseDnsMessage(q, q.length, 1), { error: 'bad_range' });
  t.same(parseDnsMessage(q, 1.5, 10), { error: 'bad_range' });
  t.same(parseDnsMessage(q, q.length, 0), { error: 'truncated' });

  // A response with no question still yields its rcode: the matcher has the name.
  const formerr = Uint8Array.from(header(9, 0x8001, 0));
  t.match(mustParse(t, parseDnsMessage(formerr, 0, formerr.length)), { id: 9, rcode: 1, qdcount: 0, qname: '', qtype: 0 });
});

t.test('compression pointers when reading later names', async (t) => {
  // 12: example.com  25: www -> 12  31: api -> 25  37: -> 31
  const msg = Uint8Array.from([
    ...header(1, 0x8180, 1),
    ...wireName('example.com'),
    3, 0x77, 0x77, 0x77, 0xc0, 12,
    3, 0x61, 0x70, 0x69, 0xc0, 25,
    0xc0, 31,
  ]);
  t.equal(parseDnsName(msg, 0, msg.length, 25), 'www.example.com');
  t.equal(parseDnsName(msg, 0, msg.length, 31), 'api.www.example.com');
  t.equal(parseDnsName(msg, 0, msg.length, 37), 'api.www.example.com');
  t.same(parseDnsName(msg, 0, msg.length, 39), { error: 'truncated' });
  t.same(parseDnsName(msg, 0, msg.length, -1), { error: 'bad_range' });

  // A chain of pointers each one step back: legal up to the jump cap.
  const chain = [...header(1, 0x8180, 1), ...wireName('a')]; // 12..14
  for (let i = 0; i < MAX_POINTER_JUMPS + 1; i++) {
    const target = 12 + Math.max(0, i - 1) * 2 + (i === 0 ? 0 : 3);
    chain.push(0xc0 | (target >> 8), target & 0xff);
  }
  const c = Uint8Array.from(chain);
  const at = (k: number) => 15 + k * 2; // k-th pointer's offset
  t.equal(parseDnsName(c, 0, c.length, at(MAX_POINTER_JUMPS - 1)), 'a', 'MAX_POINTER_JUMPS jumps are fine');
  t.same(parseDnsName(c, 0, c.length, at(MAX_POINTER_JUMPS)), { error: 'pointer_loop' }, 'one more is refused');

  // Two names pointing into each other.
  const loop = Uint8Array.from([...header(1, 0x8180, 1), 1, 0x61, 0xc0, 16, 1, 0x62, 0xc0, 12]);
  t.same(parseDnsName(loop, 0, loop.length, 16), { error: 'pointer_loop' });
  t.same(parseDnsName(loop, 0, loop.length, 12), { error: 'bad_pointer' });
});

t.test('never throws on random or mutated input', async (t) => {
  // Deterministic xorshift so a failure reproduces.
  let s = 0x9e3779b9;
  const rnd = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
  const base = respond(query('www.example.co.uk', 28), 0);
  let threw = 0;
  let parsed = 0;
  for (let i = 0; i < 20000; i++) {
    let b: Uint8Array;
    if (i % 2 === 0) {
      b = new Uint8Array(Math.floor(rnd() * 80));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rnd() * 256);
      if (b.length > 5) b[5] = 1; // mostly one question, so the name reader runs
    } else {
      b = base.slice();
      for (let k = 0; k < 3; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    }
    try {
      const r = parseDnsMessage(b, 0, b.length);
      if (!isDnsParseFailure(r)) {
        parsed++;
        if (r.qname.length > 1100 || /[^\x21-\x7e]/.test(r.qname) || /[A-Z]/.test(r.qname)) t.fail(`bad qname ${r.qname}`);
      }
    } catch {
      threw++;
    }
  }
  t.equal(threw, 0, 'no input made it throw');
  t.ok(parsed > 100, `some inputs parsed (${parsed})`);
});
