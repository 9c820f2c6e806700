import t from 'tap';
import { parseFlowsReport, parseSyscallsReport } from '../../src/policy/types.js';
import { flowsReport } from './fixtures/load.js';

const flow = (over: Record<string, unknown> = {}) => ({
  namespace: 'shop', pod: 'web-1', workload: 'web', podLabels: { app: 'web' },
  direction: 'egress', protocol: 'TCP', port: 80, peer: { kind: 'external', address: '1.2.3.4' }, ...over,
});

t.test('the fixtures parse', async (t) => {
  const r = flowsReport('flows-n1.json');
  t.equal(r.node, 'n1');
  t.equal(r.flows.length, 9);
  t.same(r.flows[3]!.peer.ports, [{ port: 53, targetPort: 53, protocol: 'UDP', name: 'dns' }, { port: 53, targetPort: 53, protocol: 'TCP', name: 'dns-tcp' }]);
});

t.test('malformed answers name the first bad field', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['not an object', [], /^\$: expected an object, got an array/],
    ['flows missing', { node: 'n1' }, /^\$\.flows: expected an array, got undefined/],
    ['node missing', { flows: [] }, /^\$\.node: expected a non-empty string/],
    ['direction', { node: 'n', flows: [flow({ direction: 'sideways' })] }, /^\$\.flows\[0\]\.direction: expected one of ingress, egress, got string "sideways"/],
    ['protocol', { node: 'n', flows: [flow({ protocol: 'tcp' })] }, /\$\.flows\[0\]\.protocol: expected one of TCP, UDP, SCTP/],
    ['port 0', { node: 'n', flows: [flow({ port: 0 })] }, /\$\.flows\[0\]\.port: expected a port 1-65535, got number 0/],
    ['port string', { node: 'n', flows: [flow({ port: '80' })] }, /\$\.flows\[0\]\.port: expected a port 1-65535, got string "80"/],
    ['peer kind', { node: 'n', flows: [flow({ peer: { kind: 'dns' } })] }, /\$\.flows\[0\]\.peer\.kind: expected one of pod, service, node, external, got string "dns"/],
    ['external without address', { node: 'n', flows: [flow({ peer: { kind: 'external' } })] }, /\$\.flows\[0\]\.peer\.address: expected a non-empty string/],
    ['external with a name', { node: 'n', flows: [flow({ peer: { kind: 'external', address: 'example.com' } })] }, /peer\.address: expected an IP address/],
    ['pod peer without namespace', { node: 'n', flows: [flow({ peer: { kind: 'pod', pod: 'x' } })] }, /peer\.namespace: expected a non-empty string/],
    ['pod peer without identity', { node: 'n', flows: [flow({ peer: { kind: 'pod', namespace: 'x' } })] }, /peer: a pod peer needs pod or workload/],
    ['label value', { node: 'n', flows: [flow({ podLabels: { app: 1 } })] }, /\$\.flows\[0\]\.podLabels\.app: expected a string, got number/],
    ['service port', { node: 'n', flows: [flow({ peer: { kind: 'service', namespace: 'a', name: 's', ports: [{ port: 70000 }] } })] }, /peer\.ports\[0\]\.port: expected a port/],
  ];
  for (const [name, body, msg] of cases) t.throws(() => parseFlowsReport(body), msg, name);
  t.throws(() => parseSyscallsReport({ node: 'n', arch: 'x86_64', containers: [{ namespace: 'a', pod: 'p', container: 'c', syscalls: ['read', 'rm -rf'] }] }), /\$\.containers\[0\]\.syscalls\[1\]: expected a syscall name/);
  t.throws(() => parseSyscallsReport({ node: 'n', containers: [] }), /\$\.arch/);
});

t.test('optional fields', async (t) => {
  const r = parseFlowsReport({ node: 'n', flows: [flow({ workload: undefined, podLabels: undefined })] });
  t.equal(r.flows[0]!.workload, 'web-1', 'a bare pod is its own workload');
  t.same(r.flows[0]!.podLabels, {});
  const s = parseSyscallsReport({ node: 'n', arch: 'x86_64', containers: [{ namespace: 'a', pod: 'p', container: 'c', syscalls: [] }] });
  t.equal(s.containers[0]!.workload, 'p');
});
