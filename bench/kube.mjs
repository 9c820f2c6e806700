#!/usr/bin/env node
// Kubernetes mode for the benchmark: the daemon runs as in a DaemonSet pod
// (in-cluster config: service account at its standard path in a private
// mount namespace, KUBERNETES_SERVICE_HOST/PORT, TLS) against the test API
// server (test/support/kube-api-server.ts, the real list+watch protocol).
//
// - startKube(): an API server with this node's few pods, for the load runs
//   of run.mjs (its daemons then run in Kubernetes mode, the mode the RSS
//   target is about);
// - measureLargeCluster(): a daemon watching a large cluster (10k pods, 2k
//   Services, 500 nodes by default; the peer index holds them all): its
//   RSS once synced and settled, against the same daemon with a small
//   cluster, the per-object cost, and the start-up sync time.
//
// Standalone: node bench/kube.mjs [--daemon dist/cmd/kubepulse.js] [--pods 10000]
// [--services 2000] [--nodes 500] prints the large-cluster figures as JSON
// (--daemon lets an older build be measured the same way). Needs root.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnTracked, stop } from './lib/children.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH, '..');

/** The test support modules (TypeScript), transpiled once into dir and imported. */
async function testSupport(dir) {
  const ts = (await import('typescript')).default;
  const out = {};
  for (const name of ['kube-api-server', 'in-cluster']) {
    const source = readFileSync(join(ROOT, 'test/support', `${name}.ts`), 'utf8');
    const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
    const file = join(dir, `${name}.mjs`);
    writeFileSync(file, js);
    Object.assign(out, await import(pathToFileURL(file).href));
  }
  return out;
}

const rand = (n) => Math.floor(Math.random() * n);
const hex = (n) => Array.from({ length: n }, () => '0123456789abcdef'[rand(16)]).join('');
const uid = () => `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`;

/** A pod shaped like what an API server returns for a Deployment's pod (about 3 KB of JSON). */
function realisticPod(i, nodeName) {
  const app = `app-${i % 400}`;
  const hash = hex(10);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${app}-${hash}-${hex(5)}`,
      namespace: `ns-${i % 50}`,
      uid: uid(),
      creationTimestamp: '2026-11-30T10:00:00Z',
      labels: { app, 'pod-template-hash': hash, tier: ['web', 'api', 'worker'][i % 3], 'app.kubernetes.io/part-of': `system-${i % 20}` },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-30T09:59:00Z' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app}-${hash}`, uid: uid(), controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      nodeName,
      serviceAccountName: 'default',
      restartPolicy: 'Always',
      containers: [
        {
          name: 'main',
          image: `registry.example.com/team/${app}:1.${i % 30}.0`,
          ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
          env: [{ name: 'LOG_LEVEL', value: 'info' }, { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
          resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
          volumeMounts: [{ name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
          readinessProbe: { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 10 },
        },
      ],
      volumes: [{ name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }] } }],
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
    },
    status: {
      phase: 'Running',
      hostIP: `10.0.${(i >> 8) & 255}.${i & 255}`,
      podIP: `10.${64 + ((i >> 16) & 63)}.${(i >> 8) & 255}.${i & 255}`,
      podIPs: [{ ip: `10.${64 + ((i >> 16) & 63)}.${(i >> 8) & 255}.${i & 255}` }],
      startTime: '2026-11-30T10:00:01Z',
      conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastTransitionTime: '2026-11-30T10:00:05Z' })),
      containerStatuses: [
        {
          name: 'main',
          ready: true,
          started: true,
          restartCount: 0,
          image: `registry.example.com/team/${app}:1.${i % 30}.0`,
          imageID: `registry.example.com/team/${app}@sha256:${hex(64)}`,
          containerID: `containerd://${hex(64)}`,
          state: { running: { startedAt: '2026-11-30T10:00:03Z' } },
        },
      ],
      qosClass: 'Burstable',
    },
  };
}

function realisticService(i) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `svc-${i}`, namespace: `ns-${i % 50}`, uid: uid(), labels: { app: `app-${i % 400}` } },
    spec: {
      type: 'ClusterIP',
      clusterIP: `10.96.${(i >> 8) & 255}.${i & 255}`,
      clusterIPs: [`10.96.${(i >> 8) & 255}.${i & 255}`],
      selector: { app: `app-${i % 400}` },
      ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
      sessionAffinity: 'None',
      ipFamilies: ['IPv4'],
    },
  };
}

function realisticNode(i) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: `node-${i}`, uid: uid(), labels: { 'kubernetes.io/hostname': `node-${i}`, 'topology.kubernetes.io/zone': `zone-${i % 3}` } },
    status: {
      addresses: [{ type: 'InternalIP', address: `10.0.${(i >> 8) & 255}.${i & 255}` }, { type: 'Hostname', address: `node-${i}` }],
      capacity: { cpu: '16', memory: '65536Mi', pods: '110' },
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }],
      nodeInfo: { kubeletVersion: 'v1.31.2', containerRuntimeVersion: 'containerd://1.7.22', kernelVersion: '6.6.0', osImage: 'Debian GNU/Linux 12' },
    },
  };
}

/**
 * An API server (TLS) holding `pods` pods (`localPods` of them on this node),
 * `services` Services and `nodes` nodes, and how to launch a daemon in-cluster against it.
 */
export async function startKube({ pods = 0, localPods = 20, services = 0, nodes = 1, nodeName = hostname() } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-bench-kube-'));
  const support = await testSupport(dir);
  const server = new support.TestKubeApiServer({ tls: true, token: 'bench-token' });
  for (let i = 0; i < localPods; i++) server.addPod(realisticPod(i, nodeName));
  for (let i = localPods; i < pods; i++) server.addPod(realisticPod(i, `node-${i % Math.max(1, nodes)}`));
  for (let i = 0; i < services; i++) server.addService(realisticService(i));
  server.addNode({ ...realisticNode(0), metadata: { ...realisticNode(0).metadata, name: nodeName } });
  for (let i = 1; i < nodes; i++) server.addNode(realisticNode(i));
  server.compact(); // the history a real API server would have compacted long ago
  await server.start();
  const saDir = join(dir, 'serviceaccount');
  mkdirSync(saDir);
  support.serviceAccountDir(saDir, server.token, server.certificate);
  return {
    server,
    nodeName,
    objects: pods + services + nodes,
    env: support.inClusterEnv(server.url),
    launch: (command, args) => support.inClusterLaunch(saDir, command, args),
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function httpGet(port, path) {
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolvePromise({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

const status = (pid) => {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(text)?.[1] ?? NaN);
  return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024, anonMiB: kib('RssAnon') / 1024, fileMiB: kib('RssFile') / 1024 };
};

/** Starts a daemon in-cluster against kube; resolves once the pod watch and every peer watch are synced. */
async function syncedDaemon(kube, { daemon, port, args = [], nodeArgs = [] }) {
  const logPath = join(tmpdir(), `kubepulse-bench-kube-${port}.log`);
  const line = [...nodeArgs, daemon, '--port', String(port), '--listen-address', '127.0.0.1', '--node-name', kube.nodeName, '--log-level', 'warn', ...args];
  const run = kube.launch(process.execPath, line);
  const { openSync, closeSync } = await import('node:fs');
  const fd = openSync(logPath, 'w');
  const t0 = process.hrtime.bigint();
  const child = spawnTracked(run.command, run.args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...kube.env } });
  closeSync(fd);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`daemon exited ${child.exitCode}: ${readFileSync(logPath, 'utf8').slice(-1500)}`);
    if (Number(process.hrtime.bigint() - t0) / 1e9 > 180) {
      await stop(child, 'SIGKILL');
      throw new Error(`not synced after 180 s: ${readFileSync(logPath, 'utf8').slice(-1500)}`);
    }
    try {
      const ready = await httpGet(port, '/readyz');
      if (ready.status === 200) {
        const metrics = (await httpGet(port, '/metrics')).body;
        const synced = ['pods', 'services', 'nodes'].every((r) => metrics.includes(`kubepulse_cluster_peers_synced{resource="${r}"} 1`));
        if (synced) return { child, syncMs: Number(process.hrtime.bigint() - t0) / 1e6, logPath };
      }
    } catch {
      /* not serving yet */
    }
    await sleep(50);
  }
}

async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((r) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => r(port));
    });
  });
}

/**
 * RSS of a daemon watching a small cluster and a large one (each synced,
 * then left `settleS` seconds), the difference per object, and the time
 * from spawn to every watch synced.
 */
export async function measureLargeCluster({ daemon = join(ROOT, 'dist/cmd/kubepulse.js'), pods = 10000, services = 2000, nodes = 500, settleS = 10, args = [], nodeArgs = [] } = {}) {
  const out = { daemon, pods, services, nodes, settleS };
  for (const [name, shape] of [
    ['small', { pods: 20, localPods: 20, services: 5, nodes: 1 }],
    ['large', { pods, localPods: 20, services, nodes }],
  ]) {
    const kube = await startKube(shape);
    try {
      const port = await freePort();
      const { child, syncMs, logPath } = await syncedDaemon(kube, { daemon, port, args, nodeArgs });
      const atSync = status(child.pid);
      await sleep(settleS * 1000);
      const settled = status(child.pid);
      const metrics = (await httpGet(port, '/metrics')).body;
      const addresses = Object.fromEntries(
        [...metrics.matchAll(/^kubepulse_cluster_peers_addresses\{kind="(\w+)"\} (\d+)/gm)].map((m) => [m[1], Number(m[2])]),
      );
      out[name] = { objects: kube.objects, syncMs: Math.round(syncMs), rssAtSyncMiB: atSync.rssMiB, ...settled, addresses };
      await stop(child, 'SIGTERM', 10000);
      rmSync(logPath, { force: true });
    } finally {
      await kube.stop();
    }
  }
  out.bytesPerObject = Math.round(((out.large.rssMiB - out.small.rssMiB) * 1048576) / (out.large.objects - out.small.objects));
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      daemon: { type: 'string', default: join(ROOT, 'dist/cmd/kubepulse.js') },
      pods: { type: 'string', default: '10000' },
      services: { type: 'string', default: '2000' },
      nodes: { type: 'string', default: '500' },
      settle: { type: 'string', default: '10' },
      'daemon-args': { type: 'string', default: '' },
      'node-args': { type: 'string', default: '--max-semi-space-size=2' }, // as the image runs it (Dockerfile)
    },
  });
  const { installCleanup } = await import('./lib/children.mjs');
  installCleanup();
  const result = await measureLargeCluster({
    daemon: resolve(values.daemon),
    pods: Number(values.pods),
    services: Number(values.services),
    nodes: Number(values.nodes),
    settleS: Number(values.settle),
    args: values['daemon-args'].split(' ').filter(Boolean),
    nodeArgs: values['node-args'].split(' ').filter(Boolean),
  });
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  process.exit(0);
}
