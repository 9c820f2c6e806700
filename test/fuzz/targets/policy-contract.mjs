// The policy exporter's input contract (src/policy/types.ts, sources.ts):
// JSON from agents' /api/v1/flows and /api/v1/syscalls and from a
// Prometheus query answer, all fetched over the network — then the
// generators that turn accepted input into NetworkPolicies, Cilium
// policies and seccomp profiles.
// Invariant: a JSON value is either refused with ContractError (a path and
// a problem, one line) or accepted; accepted input never makes a generator
// throw anything but its documented one-line "unsupported architecture";
// accepted flows have ports 1–65535 and direction/protocol/kind in their
// sets.

export default {
  sources: ['src/policy/types.js', 'src/policy/sources.js', 'src/policy/rules.js', 'src/policy/network-policy.js', 'src/policy/cilium-policy.js', 'src/policy/seccomp.js', 'src/policy/labels.js'],
  maxLength: 8192,
  // Parse + three generators + YAML per input: ~80 ms cold here, several times that instrumented at load average 30.
  slowMs: 3000,
  dictionary: ['"kind":"pod"', '"kind":"service"', '"kind":"node"', '"kind":"external"', '"direction":"ingress"', '"protocol":"SCTP"', '"port":0', '"port":65536', '"port":1.5', '"targetPort":"http"', '"ports":[', '"labels":{', '"selector":{}', '"address":"::1"', '"namespace":""', 'null', '[]', '{}', '"arch":"aarch64"', '"syscalls":["read"]', '"status":"success"', '"resultType":"vector"', '"__proto__"', '"constructor"'],
  async setup(load) {
    const types = await load('src/policy/types.js');
    const sources = await load('src/policy/sources.js');
    const np = await load('src/policy/network-policy.js');
    const cilium = await load('src/policy/cilium-policy.js');
    const seccomp = await load('src/policy/seccomp.js');
    const checkFlow = (f) => {
      if (!(Number.isInteger(f.port) && f.port >= 1 && f.port <= 65535)) throw new Error(`accepted port ${f.port}`);
      if (!['ingress', 'egress'].includes(f.direction) || !['TCP', 'UDP', 'SCTP'].includes(f.protocol)) throw new Error(`accepted ${f.direction}/${f.protocol}`);
      if (!['pod', 'service', 'node', 'external'].includes(f.peer.kind)) throw new Error(`accepted peer kind ${f.peer.kind}`);
    };
    const contract = (fn) => {
      try {
        return fn();
      } catch (err) {
        if (err instanceof types.ContractError && !err.message.includes('\n')) return undefined;
        throw err;
      }
    };
    const generateFlows = (flows) => {
      flows.forEach(checkFlow);
      for (const r of [np.generateNetworkPolicies(flows), cilium.generateCiliumPolicies(flows)]) np.toYamlStream(r.policies.map((p) => p.object));
    };
    return (data) => {
      let v;
      try {
        v = JSON.parse(data.toString('utf8'));
      } catch {
        return; // not JSON: refused by JSON.parse before our contract is involved
      }
      const report = contract(() => types.parseFlowsReport(v));
      if (report !== undefined) generateFlows(report.flows);
      const prom = contract(() => sources.parsePrometheusFlows(v));
      if (prom !== undefined) generateFlows(prom);
      const sys = contract(() => types.parseSyscallsReport(v));
      if (sys !== undefined) {
        try {
          const { profiles } = seccomp.generateSeccompProfiles([sys]);
          for (const p of profiles) seccomp.renderSpoSeccompProfile(p);
        } catch (err) {
          if (!(err instanceof Error && /^unsupported architecture/.test(err.message))) throw err;
        }
      }
    };
  },
};
