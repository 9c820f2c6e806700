#!/usr/bin/env node
// The soak's live stream subscriber: follows GET /api/v1/events (SSE) and
// counts what arrives, in a process of its own so its reading never delays
// the harness's scrapes. Prints one JSON line per second on stdout:
// {events, missed, reconnects, bytes}. `missed` sums the `event: dropped`
// notices (events the daemon dropped for this slow client).
//   node bench/soak/subscriber.mjs http://127.0.0.1:PORT
import { request } from 'node:http';

const base = process.argv[2];
const counts = { events: 0, missed: 0, reconnects: -1, bytes: 0 };
let tail = Buffer.alloc(0);

const DATA = Buffer.from('\ndata: ');
const DROPPED = Buffer.from('\nevent: dropped\ndata: ');

/** Counts `data:` lines with indexOf over the bytes: the subscriber must keep up at 10k+ events/s on a busy machine. */
function count(chunk) {
  counts.bytes += chunk.length;
  // A marker may straddle two chunks: scan the previous chunk's last bytes again.
  const buf = tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk;
  const from = tail.length;
  for (let at = buf.indexOf(DATA); at >= 0; at = buf.indexOf(DATA, at + 1)) if (at + DATA.length > from) counts.events++;
  for (let at = buf.indexOf(DROPPED); at >= 0; at = buf.indexOf(DROPPED, at + 1)) {
    if (at + DROPPED.length <= from) continue;
    counts.events--; // its data: line is no event
    counts.missed += Number(/"missed":(\d+)/.exec(buf.subarray(at, at + 200).toString('latin1'))?.[1] ?? 0);
  }
  tail = buf.subarray(Math.max(0, buf.length - DROPPED.length));
}

function connect() {
  counts.reconnects++;
  tail = Buffer.alloc(0);
  const req = request(`${base}/api/v1/events?follow=true`, (res) => {
    res.on('data', count);
    res.on('end', () => setTimeout(connect, 200));
    res.on('error', () => {});
  });
  req.on('error', () => setTimeout(connect, 500));
  req.end();
}

connect();
setInterval(() => process.stdout.write(`${JSON.stringify(counts)}\n`), 1000);
