// Feeds the DNS probe module's event handler (dist/src/probes/dns/index.js) with DNS events in the
// kernel's layout (struct kp_dns_event, offsets from the decoder's DNS_EVENT_LAYOUT): for every
// pod and domain one query and its response, every other domain answered NXDOMAIN, so each pod
// gets queries per domain, a latency histogram and two rcode series. For the synthetic
// large-label-set scrape (bench/synthetic-series.mjs).

function question(name) {
  const parts = [];
  for (const label of name.split('.')) parts.push(Buffer.from([label.length]), Buffer.from(label, 'latin1'));
  parts.push(Buffer.from([0, 0, 1, 0, 1])); // root, QTYPE A, QCLASS IN
  return Buffer.concat(parts);
}

function message(id, flags, name) {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(1, 4); // QDCOUNT
  return Buffer.concat([header, question(name)]);
}

export async function feedDns({ dist, handle, pods, domains }) {
  const ev = await import(dist('src/probes/dns/event.js'));
  const L = ev.DNS_EVENT_LAYOUT;
  const O = L.offsets;
  const buf = Buffer.alloc(L.size);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let ts = 1_000_000_000n;
  let events = 0;
  const send = (pod, direction, id, msg) => {
    buf.fill(0);
    view.setUint32(O.hdr, ev.DNS_EVENT_TYPE, true);
    view.setUint32(O.hdr + 4, O.payload + msg.length, true);
    view.setBigUint64(O.ts_ns, ts, true);
    view.setBigUint64(O.cgroup_id, BigInt(pod + 1), true);
    view.setBigUint64(O.socket_cookie, BigInt(pod + 1), true);
    view.setUint8(O.direction, direction);
    view.setUint8(O.transport, ev.TRANSPORT_UDP);
    view.setUint16(O.family, 2, true);
    view.setUint16(O.sport, direction === ev.DIRECTION_QUERY ? 40000 : 53, true);
    view.setUint16(O.dport, direction === ev.DIRECTION_QUERY ? 53 : 40000, true);
    view.setUint16(O.payload_len, msg.length, true);
    view.setUint16(O.wire_len, msg.length, true);
    msg.copy(buf, O.payload);
    handle(view, 0, O.payload + msg.length);
    events++;
  };
  for (let i = 0; i < pods; i++) {
    for (let j = 0; j < domains; j++) {
      const name = `api.bench-domain-${j}.com`;
      const id = (i * 31 + j) & 0xffff;
      send(i, ev.DIRECTION_QUERY, id, message(id, 0x0100, name));
      ts += BigInt(200_000 + ((i * 7919 + j * 104729) % 20_000_000));
      send(i, ev.DIRECTION_RESPONSE, id, message(id, 0x8180 | (j % 2 ? 3 : 0), name));
    }
  }
  return events;
}
