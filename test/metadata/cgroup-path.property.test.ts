// Properties of the cgroup path parser over generated kubelet paths
// (fast-check): every runtime, driver, QoS class and nesting, against the
// fields the path was built from. test/fuzz/targets/cgroup-path.mjs fuzzes
// the same parser with arbitrary bytes.
import t from 'tap';
import fc from 'fast-check';
import { parseCgroupPath, parseProcCgroup } from '../../src/metadata/cgroup-path.js';

const hex = (n: number): fc.Arbitrary<string> => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
const uid = fc.tuple(hex(8), hex(4), hex(4), hex(4), hex(12)).map((p) => p.join('-'));
const qos = fc.constantFrom('guaranteed', 'burstable', 'besteffort');
const runtime = fc.constantFrom(['cri-containerd-', 'containerd'], ['crio-', 'cri-o'], ['docker-', 'docker'], ['containerd-', 'containerd']);
// What kubelets nested in other things put above the kubepods level.
const above = fc.constantFrom('', '/kubelet.slice/kubelet', '/docker/' + 'a'.repeat(64), '/../..');

t.test('systemd driver paths of every runtime and QoS class', async (t) => {
  fc.assert(
    fc.property(uid, qos, runtime, hex(64), fc.boolean(), (u, q, [prefix, rt], id, leaf) => {
      const slicePod = `kubepods${q === 'guaranteed' ? '' : `-${q}`}-pod${u.replaceAll('-', '_')}.slice`;
      const path = `/kubepods.slice${q === 'guaranteed' ? '' : `/kubepods-${q}.slice`}/${slicePod}/${prefix}${id}.scope${leaf ? '/container' : ''}`;
      const info = parseCgroupPath(path);
      return info?.podUid === u && info.qos === q && info.containerId === id && info.runtime === rt;
    }),
    { numRuns: 1000 },
  );
});

t.test('cgroupfs driver paths, nested under anything', async (t) => {
  fc.assert(
    fc.property(above, uid, qos, hex(64), (a, u, q, id) => {
      const path = `${a}/kubepods${q === 'guaranteed' ? '' : `/${q}`}/pod${u}/${id}`;
      const proc = parseProcCgroup(`0::${path}\n`);
      return proc.podSource === 'v2' && proc.pod?.podUid === u && proc.pod.qos === q && proc.pod.containerId === id && proc.pod.runtime === 'unknown';
    }),
    { numRuns: 1000 },
  );
});

t.test('paths outside kubepods never name a pod', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.stringMatching(/^[a-z0-9._-]{1,20}$/), { maxLength: 6 }), (segments) => {
      fc.pre(!segments.some((s) => s.includes('pod')));
      return parseCgroupPath('/' + segments.join('/')) === undefined;
    }),
    { numRuns: 1000 },
  );
});
