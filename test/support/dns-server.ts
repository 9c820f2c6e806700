// A DNS server for tests, on loopback (UDP on 127.0.0.1 and ::1, TCP on
// 127.0.0.1), that answers by name so each failure mode can be asked for:
//   nx.*      → NXDOMAIN          fail.*   → SERVFAIL
//   refuse.*  → REFUSED           silent.* → never answers
//   anything else → NOERROR (an A record 127.0.0.1 for A questions)
// It parses only what it needs; the daemon's parser is what is under test.

import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:net';

export interface TestDnsServer {
  port: number;
  /** Queries received (UDP and TCP). */
  received: number;
  close(): Promise<void>;
}

function questionEnd(q: Buffer): number {
  let at = 12;
  while (at < q.length && q[at] !== 0) at += (q[at] as number) + 1;
  return at + 5; // zero label + qtype + qclass
}

function qname(q: Buffer): string {
  const labels: string[] = [];
  let at = 12;
  while (at < q.length && q[at] !== 0) {
    const len = q[at] as number;
    labels.push(q.subarray(at + 1, at + 1 + len).toString('latin1'));
    at += len + 1;
  }
  return labels.join('.').toLowerCase();
}

/** The response for a query, or undefined to stay silent. */
export function answer(query: Buffer): Buffer | undefined {
  try {
    return build(query);
  } catch {
    return undefined; // malformed: a real server would drop it too
  }
}

function build(query: Buffer): Buffer | undefined {
  if (query.length < 17) return undefined;
  const name = qname(query);
  const first = name.split('.')[0];
  if (first === 'silent') return undefined;
  const rcode = { nx: 3, fail: 2, refuse: 5 }[first ?? ''] ?? 0;
  const end = questionEnd(query);
  const question = query.subarray(12, end);
  const qtype = query.readUInt16BE(end - 4);
  const withAnswer = rcode === 0 && qtype === 1;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0); // id
  header.writeUInt16BE(0x8180 | rcode, 2); // QR, RD, RA + rcode
  header.writeUInt16BE(1, 4); // qdcount
  header.writeUInt16BE(withAnswer ? 1 : 0, 6); // ancount
  const parts = [header, question];
  if (withAnswer) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // name: pointer to the question
    rr.writeUInt16BE(1, 2); // A
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(30, 6); // TTL
    rr.writeUInt16BE(4, 10);
    Buffer.from([127, 0, 0, 1]).copy(rr, 12);
    parts.push(rr);
  }
  return Buffer.concat(parts);
}

function bindUdp(type: 'udp4' | 'udp6', host: string, port: number, count: () => void): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(type);
    socket.on('message', (msg, rinfo) => {
      count();
      const reply = answer(msg);
      if (reply) socket.send(reply, rinfo.port, rinfo.address);
    });
    socket.once('error', reject);
    socket.bind(port, host, () => resolve(socket));
  });
}

export interface DnsServerOptions {
  /** Listen on this IPv4 address only (UDP and TCP), e.g. a 127.x alias; default 127.0.0.1 and ::1. */
  host?: string;
  /** Default: a free port. */
  port?: number;
}

export async function startDnsServer(options: DnsServerOptions = {}): Promise<TestDnsServer> {
  const state = { received: 0 };
  const count = (): void => void state.received++;
  // TCP first, to pick a port free for TCP; then UDP on the same number.
  const tcp: Server = createServer((conn) => {
    let pending = Buffer.alloc(0);
    conn.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const msg = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + msg.length);
        count();
        const reply = answer(msg);
        if (reply) {
          const len = Buffer.alloc(2);
          len.writeUInt16BE(reply.length);
          conn.write(Buffer.concat([len, reply]));
        }
      }
    });
    conn.on('error', () => {});
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (tcp.address() as { port: number }).port;
  const udp4 = await bindUdp('udp4', options.host ?? '127.0.0.1', port, count).catch(async (err: unknown) => {
    await new Promise((r) => tcp.close(r));
    throw err;
  });
  const udp6 = options.host === undefined ? await bindUdp('udp6', '::1', port, count).catch(() => undefined) : undefined;
  return {
    port,
    get received() {
      return state.received;
    },
    async close() {
      udp4.close();
      udp6?.close();
      await new Promise((r) => tcp.close(r));
    },
  };
}
