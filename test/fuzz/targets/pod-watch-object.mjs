// Pod objects as a watch stream delivers them, through the pod index
// (src/metadata/pod-index.ts: upsert/replace/remove, recordOf, workloadOf,
// containerIdOf), the entry point every watch event ends in; the framing
// before it (list bodies, watch lines) is kube-stream's. Input: a JSON
// watch event line ({"type":…,"object":pod}).
// Invariant: for objects of the Kubernetes types (strings where the API has
// strings …) nothing throws; a record is returned exactly when the pod has
// a name and a uid; every container id in the index resolves to an
// identity of its pod; removing the pod removes them all.

const isStr = (v) => v === undefined || typeof v === 'string';
const isObj = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
const optObj = (v) => v === undefined || isObj(v);
const strMap = (v) => v === undefined || (isObj(v) && Object.values(v).every((x) => typeof x === 'string'));
const arrayOf = (v, f) => v === undefined || (Array.isArray(v) && v.every(f));
const status = (s) => isObj(s) && typeof s.name === 'string' && isStr(s.containerID) && optObj(s.lastState) && (s.lastState === undefined || (optObj(s.lastState.terminated) && isStr(s.lastState.terminated?.containerID)));
/** The shape the API server's OpenAPI schema guarantees for the fields the index reads. */
function typed(pod) {
  if (!isObj(pod) || !optObj(pod.metadata) || !optObj(pod.spec) || !optObj(pod.status)) return false;
  const m = pod.metadata ?? {};
  return (
    isStr(m.name) && isStr(m.uid) && isStr(m.namespace) && isStr(m.resourceVersion) && strMap(m.labels) &&
    arrayOf(m.ownerReferences, (o) => isObj(o) && typeof o.kind === 'string' && typeof o.name === 'string' && (o.controller === undefined || typeof o.controller === 'boolean')) &&
    isStr(pod.spec?.nodeName) &&
    ['initContainerStatuses', 'containerStatuses', 'ephemeralContainerStatuses'].every((k) => arrayOf(pod.status?.[k], status))
  );
}

export default {
  sources: ['src/metadata/pod-index.js'],
  maxLength: 4096,
  dictionary: ['"ownerReferences":[{"kind":"ReplicaSet","name":"web-7d9f","controller":true}]', '"pod-template-hash":"7d9f"', '"kind":"Job"', '"kind":"Node"', '-29012345', '"containerID":"containerd://', 'cri-o://', '"lastState":{"terminated":{"containerID":"docker://', '"type":"DELETED"', '"type":"MODIFIED"', '"uid":""', '"name":""', '"__proto__"'],
  async setup(load) {
    const { PodIndex } = await load('src/metadata/pod-index.js');
    return (data) => {
      // A fresh index per input: container IDs are unique across real pods,
      // and two inputs claiming one ID would test a case that cannot happen.
      const index = new PodIndex();
      let event;
      try {
        event = JSON.parse(data.toString('utf8'));
      } catch {
        return;
      }
      const pod = event?.object;
      if (!typed(pod)) return; // not something the API server sends
      if (event.type === 'DELETED') {
        index.remove(pod);
        if (pod.metadata?.uid && index.byUid(pod.metadata.uid) !== undefined) throw new Error('deleted pod still indexed');
        return;
      }
      const record = index.upsert(pod);
      const named = Boolean(pod.metadata?.uid) && Boolean(pod.metadata?.name);
      if ((record !== undefined) !== named) throw new Error(`record ${record === undefined ? 'missing' : 'made'} for uid ${pod.metadata?.uid} name ${pod.metadata?.name}`);
      if (record === undefined) return;
      for (const [id, identity] of record.containers) {
        const found = index.byContainerId(id);
        if (found === undefined || found.podUid !== record.uid) throw new Error(`container ${id} resolves to ${JSON.stringify(found)}`);
        if (identity.podUid !== record.uid) throw new Error('identity of another pod');
      }
      if (typeof record.workload !== 'string' || typeof record.workloadKind !== 'string') throw new Error(`workload ${record.workload}/${record.workloadKind}`);
      if (index.upsert(pod) !== record && pod.metadata?.resourceVersion) throw new Error('the same resourceVersion made a new record');
      index.remove(record.uid);
      for (const id of record.containers.keys()) if (index.byContainerId(id) !== undefined) throw new Error(`container ${id} left behind`);
      if (index.size !== 0) throw new Error(`${index.size} pods left after remove`);
    };
  },
};
