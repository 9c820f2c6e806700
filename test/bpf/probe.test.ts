// Which plans --attach lets each probe try (the kernel matrix then loads
// every one of them on a real kernel: test/kernels/matrix.test.ts).
import t from 'tap';
import { type AttachMode, planAllowed } from '../../src/bpf/probe.js';
import { dnsProbe } from '../../src/probes/dns/probe.js';
import { syscallsProbe } from '../../src/probes/syscalls/probe.js';
import { tcpProbe } from '../../src/probes/tcp/probe.js';

const allowed = (spec: { plans: Array<Parameters<typeof planAllowed>[0]> }, mode: AttachMode) =>
  spec.plans.filter((p) => planAllowed(p, mode)).map((p) => p.hook);

t.test('each mode narrows the plans in their order of preference', async (t) => {
  t.same(allowed(tcpProbe, 'auto'), ['kprobe/tcp_connect+kprobe/tcp_set_state', 'tp_btf/inet_sock_set_state', 'tracepoint/sock/inet_sock_set_state']);
  t.same(allowed(tcpProbe, 'kprobe'), ['kprobe/tcp_connect+kprobe/tcp_set_state']);
  t.same(allowed(tcpProbe, 'tracepoint'), ['tp_btf/inet_sock_set_state', 'tracepoint/sock/inet_sock_set_state']);
  t.same(allowed(tcpProbe, 'classic'), ['tracepoint/sock/inet_sock_set_state']);
  t.same(allowed(syscallsProbe(), 'tracepoint'), ['tp_btf/sys_enter', 'raw_tracepoint/sys_enter']);
  t.same(allowed(syscallsProbe(), 'classic'), ['raw_tracepoint/sys_enter']);
  t.same(allowed(dnsProbe([53]), 'classic'), ['cgroup_skb/egress+cgroup_skb/ingress'], 'cgroup hooks serve every mode');
});
