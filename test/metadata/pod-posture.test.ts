// The spec facts the index keeps for the audit: what is kept (and that the
// rest of the spec is not), and what it costs per pod, measured.
import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { V1Pod } from '@kubernetes/client-node';
import { postureOf } from '../../src/metadata/pod-posture.js';
import { recordOf } from '../../src/metadata/pod-index.js';

function realistic(i: number): V1Pod {
  const container = (name: string) => ({
    name,
    image: `registry.example.com/team/service-${i}:1.2.${i}`,
    command: ['/bin/server', '--port=8080', '--config=/etc/app/config.yaml'],
    env: Array.from({ length: 10 }, (_, k) => ({ name: `VAR_${k}`, value: `value-${k}-${i}` })),
    ports: [{ containerPort: 8080, name: 'http' }],
    resources: { limits: { cpu: '500m', memory: '256Mi' }, requests: { cpu: '100m', memory: '128Mi' } },
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
    volumeMounts: [{ name: 'config', mountPath: '/etc/app' }],
  });
  return {
    metadata: { name: `service-${i}-abcde`, namespace: 'shop', uid: `uid-${i}`, annotations: { 'kubepulse.io/audit-ignore': 'no_limits' } },
    spec: {
      containers: [container('app'), container('sidecar')],
      volumes: [{ name: 'config', configMap: { name: 'cfg' } }, { name: 'logs', hostPath: { path: '/var/log/pods' } }],
    },
  };
}

t.test('what is kept', async (t) => {
  const p = realistic(1);
  p.spec!.hostPID = true;
  p.spec!.initContainers = [{ name: 'init', image: 'busybox', securityContext: { privileged: true, capabilities: { add: ['NET_ADMIN'] } }, ports: [{ containerPort: 53, hostPort: 53 }] }];
  const posture = postureOf(p);
  t.same(posture.hostPaths, [{ volume: 'logs', path: '/var/log/pods' }]);
  t.equal(posture.hostPID, true);
  t.equal(posture.hostNetwork, false);
  t.equal(posture.auditIgnore, 'no_limits');
  t.same(posture.containers.map((c) => `${c.kind}:${c.name}`), ['init:init', 'container:app', 'container:sidecar']);
  t.same(posture.containers[0], {
    name: 'init', kind: 'init', image: 'busybox', privileged: true, allowPrivilegeEscalation: undefined, readOnlyRootFilesystem: undefined,
    capabilitiesAdded: ['NET_ADMIN'], hostPorts: [53], cpuLimit: false, memoryLimit: false,
  });
  t.notOk(JSON.stringify(posture).includes('VAR_0'), 'nothing else of the spec (env, command) is kept');
  t.same(recordOf(p)?.posture, posture, 'the index record carries it');
});

t.test('memory per pod', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  // Each pod parsed from JSON and dropped, as the watch delivers it: only what the posture keeps stays (its strings included).
  const texts = Array.from({ length: 5000 }, (_, i) => JSON.stringify(realistic(i)));
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept = texts.map((text) => postureOf(JSON.parse(text) as V1Pod));
  gc();
  const bytes = (process.memoryUsage().heapUsed - before) / kept.length;
  t.comment(`posture kept per pod of two containers: ${Math.round(bytes)} bytes`);
  t.ok(bytes < 2048, `under 2 KiB per pod (${Math.round(bytes)} bytes)`);
});
