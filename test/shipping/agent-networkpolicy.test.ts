// KubePulse eats its own cooking: the chart's NetworkPolicy for the agent is
// what `kubepulse policy network` writes from the agent's own traffic.
//
// The real daemon runs as its own pod — its process in a kubelet-shaped pod
// cgroup from its first instruction, listed by the test API server as the
// DaemonSet pod kubepulse/kubepulse-xxxxx on 127.0.14.1 — in a mount
// namespace whose /etc/resolv.conf names the test DNS server (the cluster
// DNS, Service kube-system/kube-dns). So, as in a cluster, it resolves the
// API server's name through DNS, then lists and watches it. A "monitoring"
// pod (monitoring/prometheus-k8s-0 on 127.0.14.2) scrapes it every 500 ms and
// relays every other request the test makes (readiness, the CLI's), so all
// traffic into the agent comes from the monitoring namespace, as it would
// under the policy. The agent runs with --auth=kubernetes, the chart's
// setting: the monitoring pod sends Prometheus's service account token,
// which the agent checks with TokenReview and SubjectAccessReview at the
// same API server — traffic the policy must allow too.
//
// Then the policy for kubepulse/kubepulse from `kubepulse policy network`
// must be the chart's networkPolicy rendered for this cluster (the API
// server's address and port, the metrics port), except that the chart admits
// the whole monitoring namespace where the generator names the Prometheus
// pods' labels (they differ between installs).
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { makePod, randomContainerId } from '../metadata/fixtures/pods.js'
import { runCli, startDaemon } from '../support/daemon.js'
import { startDnsServer } from '../support/dns-server.js'
import { TestKubeApiServer } from '../support/kube-api-server.js'
import { writeKubeconfig } from '../support/kubeconfig.js'
import { needsPodCgroups, podCgroups } from '../support/pod-cgroups.js'
import { needsBpf } from '../support/privileges.js'
import { until } from '../support/until.js'
import { renderChart } from './helm-lite.js'
import { parseYamlDocs, repoRoot } from './k8s.js'

const NODE = 'netpol-node'
const AGENT_IP = '127.0.14.1'
const MONITORING_IP = '127.0.14.2'
const DNS_CANDIDATES = ['127.0.14.53', '127.0.14.54', '127.0.14.55']
const API_HOST = 'kubernetes.default.svc.cluster.local'
const AGENT_LABELS = { 'app.kubernetes.io/name': 'kubepulse', 'app.kubernetes.io/instance': 'kubepulse' }

// The monitoring pod's process: scrapes the agent from its own address, and
// relays the test's requests (GET path) to it from that address too.
const MONITORING_JS = `
import { createServer, request } from 'node:http';
const { agent, local, token } = JSON.parse(process.argv[2]);
const get = (path) => new Promise((resolve) => {
  const headers = { authorization: 'Bearer ' + token };
  const req = request({ host: agent.host, port: agent.port, path, localAddress: local, agent: false, headers }, (res) => {
    const chunks = []; res.on('data', (c) => chunks.push(c));
    res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
  });
  req.on('error', (e) => resolve({ status: 502, body: Buffer.from(String(e)) }));
  req.end();
});
setInterval(() => void get('/metrics'), 500);
const relay = createServer(async (req, res) => {
  const r = await get(req.url);
  res.writeHead(r.status, { 'content-type': 'application/octet-stream' }).end(r.body);
});
relay.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ relay: relay.address().port })));
`

async function freeOn(host: string, udp: boolean, port = 0): Promise<number | undefined> {
  return new Promise(resolve => {
    const s = createServer()
    s.once('error', () => resolve(undefined))
    s.listen(port, host, () => {
      const got = (s.address() as { port: number }).port
      if (!udp) return s.close(() => resolve(got))
      const u = createSocket('udp4')
      u.once('error', () => s.close(() => resolve(undefined)))
      u.bind(got, host, () => u.close(() => s.close(() => resolve(got))))
    })
  })
}

type Rule = { from?: unknown[]; to?: unknown[]; ports: unknown[] }
interface PolicySpec {
  podSelector: unknown
  policyTypes: string[]
  ingress: Rule[]
  egress: Rule[]
}
const canonical = (rules: Rule[]): string[] =>
  rules.map(r => JSON.stringify({ peers: (r.from ?? r.to ?? []).map(p => JSON.stringify(p)).sort(), ports: r.ports.map(p => JSON.stringify(p)).sort() })).sort()

const skipBpf = needsBpf().skip
const skip = skipBpf !== false ? skipBpf : needsPodCgroups().skip

t.test("the chart's NetworkPolicy for the agent is what the generator writes from the agent's own traffic", { skip, timeout: 120_000 }, async t => {
  const work = mkdtempSync(join(tmpdir(), 'kubepulse-netpol-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  let dnsHost: string | undefined
  for (const host of DNS_CANDIDATES) if ((dnsHost = (await freeOn(host, true, 53)) === 53 ? host : undefined)) break
  if (dnsHost === undefined) {
    t.fail(`port 53 is taken on ${DNS_CANDIDATES.join(', ')}`)
    return
  }
  const dns = await startDnsServer({ host: dnsHost, port: 53 }) // answers 127.0.0.1 for every name: the API server
  t.teardown(() => dns.close())
  const metricsPort = await freeOn(AGENT_IP, false)
  if (metricsPort === undefined) throw new Error(`cannot listen on ${AGENT_IP}`)

  const cgroups = podCgroups(t)
  const uid = { agent: randomUUID(), monitoring: randomUUID() }
  const cid = { agent: randomContainerId(), monitoring: randomContainerId() }
  const dirs = { agent: cgroups.container(uid.agent, cid.agent).dir, monitoring: cgroups.container(uid.monitoring, cid.monitoring).dir }

  const api = new TestKubeApiServer()
  await api.start()
  const PROMETHEUS_SA = 'system:serviceaccount:monitoring:prometheus-k8s'
  api.addUser('prometheus-sa-token', { username: PROMETHEUS_SA, groups: ['system:serviceaccounts', 'system:authenticated'] })
  api.addUser('other-sa-token', { username: 'system:serviceaccount:default:default', groups: ['system:authenticated'] })
  // The chart's metrics-reader role, and /api/v1/* for the policy CLI's reads.
  api.grantNonResource({ users: [PROMETHEUS_SA], verbs: ['get'], nonResourceURLs: ['/metrics', '/api/v1/*'] })
  t.teardown(() => api.stop())
  const apiPort = Number(new URL(api.url).port)
  const withIp = <P extends { status?: object }>(pod: P, ip: string): P => ({ ...pod, status: { ...pod.status, podIP: ip, podIPs: [{ ip }] } })
  api.addPod(
    withIp(
      makePod({
        name: 'kubepulse-x7k2p',
        namespace: 'kubepulse',
        uid: uid.agent,
        nodeName: NODE,
        labels: { ...AGENT_LABELS, 'controller-revision-hash': '5d8f9c7b6', 'pod-template-generation': '1' },
        owner: { kind: 'DaemonSet', name: 'kubepulse' },
        containers: { kubepulse: cid.agent },
      }),
      AGENT_IP,
    ),
  )
  api.addPod(
    withIp(
      makePod({
        name: 'prometheus-k8s-0',
        namespace: 'monitoring',
        uid: uid.monitoring,
        nodeName: NODE,
        labels: { 'app.kubernetes.io/name': 'prometheus', 'statefulset.kubernetes.io/pod-name': 'prometheus-k8s-0' },
        owner: { kind: 'StatefulSet', name: 'prometheus-k8s' },
        containers: { prometheus: cid.monitoring },
      }),
      MONITORING_IP,
    ),
  )
  api.addService({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: 'kube-system', name: 'kube-dns', uid: randomUUID() },
    spec: { clusterIP: dnsHost, selector: { 'k8s-app': 'kube-dns' }, ports: [{ name: 'dns', port: 53, targetPort: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, targetPort: 53, protocol: 'TCP' }] },
  })
  api.addNode({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE, uid: randomUUID() }, status: { addresses: [{ type: 'InternalIP', address: '192.0.2.20' }] } })

  // The agent finds the API server by name, through the cluster DNS.
  const kubeconfig = writeKubeconfig(work, `http://${API_HOST}:${apiPort}`, api.token)
  const resolvConf = join(work, 'resolv.conf')
  writeFileSync(resolvConf, `nameserver ${dnsHost}\noptions timeout:1 attempts:3\n`)
  const script = 'mount --bind "$0" /etc/resolv.conf && echo $$ > "$1" && shift && exec "$@"'
  const daemon = await startDaemon(
    ['--kubeconfig', kubeconfig, '--node-name', NODE, '--probes', 'flows', '--log-level', 'info', '--listen-address', AGENT_IP, '--port', String(metricsPort), '--auth', 'kubernetes', '--auth.cache-ttl', '5s'],
    {},
    (command, args) => ({
      command: 'unshare',
      args: ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', script, resolvConf, join(dirs.agent, 'cgroup.procs'), command, ...args],
    }),
  )
  t.teardown(() => daemon.stop())

  const monitoring = cgroups.spawnIn(dirs.monitoring, [process.execPath, write(work, 'monitoring.mjs', MONITORING_JS), JSON.stringify({ agent: { host: AGENT_IP, port: metricsPort }, local: MONITORING_IP, token: 'prometheus-sa-token' })], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  monitoring.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  const relayPort = await until('the monitoring pod relay', () => (out.includes('\n') ? (JSON.parse(out.split('\n')[0]!) as { relay: number }).relay : undefined), {
    timeoutMs: 10_000,
    everyMs: 50,
    retryErrors: true,
  })
  const relay = `http://127.0.0.1:${relayPort}`
  await until('the agent ready, through the monitoring pod', async () => ((await fetch(`${relay}/readyz`)).status === 200 ? true : undefined), {
    timeoutMs: 40_000,
    everyMs: 250,
    retryErrors: true,
  })
  t.ok(dns.received > 0, `the agent asked the cluster DNS for ${API_HOST} (${dns.received} queries)`)

  interface ApiFlow { namespace: string; workload: string; direction: string; protocol: string; port: number; peer: Record<string, unknown> }
  const own = await until(
    "the agent's own flows",
    async () => {
      const body = JSON.parse(await (await fetch(`${relay}/api/v1/flows`)).text()) as { flows: ApiFlow[] }
      const mine = body.flows.filter(f => f.namespace === 'kubepulse')
      const want = ['ingress', 'egress TCP', 'egress UDP']
      return want.every(w => mine.some(f => `${f.direction} ${f.protocol}`.startsWith(w))) ? mine : undefined
    },
    { timeoutMs: 20_000, everyMs: 250, retryErrors: true },
  )
  t.same(
    own.map(f => `${f.direction} ${f.protocol}/${f.port} ${String(f.peer.kind)} ${String(f.peer.namespace ?? '')}/${String(f.peer.workload ?? f.peer.name ?? f.peer.address)}`).sort(),
    [`egress TCP/${apiPort} external /127.0.0.1`, 'egress UDP/53 service kube-system/kube-dns', `ingress TCP/${metricsPort} pod monitoring/prometheus-k8s`].sort(),
    'the agent talked to the API server and the DNS, and was reached from the monitoring pod only',
  )

  const cli = await runCli(['policy', 'network', '--agent', relay])
  t.equal(cli.code, 0, `policy network exits 0: ${cli.stderr}`)
  const generated = parseAllDocuments(cli.stdout)
    .map(d => d.toJSON() as { metadata: { namespace: string; name: string }; spec: PolicySpec })
    .find(p => p.metadata.namespace === 'kubepulse')
  if (generated === undefined) throw new Error(`no policy for the agent in:\n${cli.stdout}`)

  const values = { port: metricsPort, networkPolicy: { enabled: true, monitoringNamespace: 'monitoring', apiServer: { cidrs: ['127.0.0.1/32'], port: apiPort } } }
  const rendered = [...renderChart(join(repoRoot, 'charts', 'kubepulse'), { values })].flatMap(([file, text]) => parseYamlDocs(text, file))
  const chart = rendered.find(o => o.kind === 'NetworkPolicy') as unknown as { spec: PolicySpec } | undefined
  if (chart === undefined) throw new Error('the chart rendered no NetworkPolicy')

  t.same(chart.spec.podSelector, generated.spec.podSelector, 'the same pods selected (the stable labels)')
  t.same(chart.spec.policyTypes, generated.spec.policyTypes, 'both directions governed')
  t.same(canonical(chart.spec.egress), canonical(generated.spec.egress), 'egress: exactly the API server and the cluster DNS')
  // The generator names the Prometheus pods; the chart admits their namespace (pod labels differ between installs).
  const namespaceOnly = generated.spec.ingress.map(r => ({ ...r, from: (r.from ?? []).map(p => ({ namespaceSelector: (p as { namespaceSelector: unknown }).namespaceSelector })) }))
  t.same(canonical(chart.spec.ingress), canonical(namespaceOnly), 'ingress: the metrics port from the monitoring namespace')
  t.comment(`the generated policy for the agent: ${JSON.stringify(generated.spec)}`)

  // --auth=kubernetes in the real daemon (the policy is written; traffic from here no longer matters).
  t.ok(api.tokenReviewCount > 0 && api.accessReviewCount > 0, `the agent checked the monitoring pod's token (${api.tokenReviewCount} TokenReviews, ${api.accessReviewCount} SubjectAccessReviews)`)
  const direct = async (token?: string) => (await fetch(`http://${AGENT_IP}:${metricsPort}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} })).status
  t.equal(await direct(), 401, 'no token: 401')
  t.equal(await direct('forged'), 401, 'a token the API server does not know: 401')
  t.equal(await direct('other-sa-token'), 403, 'a service account without the metrics-reader grant: 403')
  t.equal(await direct('prometheus-sa-token'), 200, "Prometheus's token: 200")
  t.equal((await fetch(`http://${AGENT_IP}:${metricsPort}/healthz`)).status, 200, '/healthz open for the kubelet')
})

function write(dir: string, name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}
