import t from 'tap';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createMetadata, HOST_IDENTITY } from '../../src/metadata/index.js';
import { writeKubeconfig } from '../support/kubeconfig.js';
import { recordingLogger, sample, until } from './fixtures/harness.js';

t.test('no Kubernetes: everything is the host, always ready', async (t) => {
  const registry = new Registry();
  const log = recordingLogger();
  const metadata = createMetadata({ nodeName: 'node-a', procfs: '/proc', inCluster: false, registry, log });
  t.equal(metadata.mode, 'none');
  t.ok(metadata.isReady(), 'ready without waiting for a cluster');
  await metadata.start();
  t.equal(metadata.resolver.resolve(process.pid, 1), HOST_IDENTITY);
  t.equal(metadata.resolver.resolve(1, 0), HOST_IDENTITY);
  t.ok(await metadata.waitForSync(10));
  t.equal(metadata.health().mode, 'none');
  t.equal((await registry.metrics()).trim(), '', 'no metadata metrics without Kubernetes');
  t.match(log.at('info')[0]!.msg, /no Kubernetes configuration/);
  await metadata.stop();
});

t.test('a missing kubeconfig is a configuration error', async (t) => {
  t.throws(
    () => createMetadata({ nodeName: 'n', procfs: '/proc', kubeconfig: '/nonexistent/kubeconfig', registry: new Registry(), log: recordingLogger() }),
    /cannot load kubeconfig/,
  );
});

t.test('a configured but unreachable API server: starts, not ready, one warning', async (t) => {
  // A port that was free a moment ago: nothing listens there.
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
  const dir = mkdtempSync(join(tmpdir(), 'kubepulse-index-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const registry = new Registry();
  const log = recordingLogger();
  const metadata = createMetadata({
    nodeName: 'node-a',
    procfs: '/proc',
    kubeconfig: writeKubeconfig(dir, `http://127.0.0.1:${port}`, 'token'),
    registry,
    log,
    backoffInitialMs: 20,
    backoffMaxMs: 50,
  });
  t.teardown(() => metadata.stop());
  t.equal(metadata.mode, 'kubernetes');
  await metadata.start();
  let registryText = '';
  await until('several failed attempts', async () => {
    registryText = await registry.metrics();
    return (sample(registryText, 'kubepulse_kube_watch_errors_total') ?? 0) >= 3;
  });
  t.notOk(metadata.isReady());
  t.equal(metadata.health().state, 'unreachable');
  t.match(metadata.health().lastError, /ECONNREFUSED/);
  t.equal(log.at('warn').length, 1, 'logged once, not per retry');
  t.match(log.at('warn')[0]!.fields?.['reason'], /ECONNREFUSED/);
  t.equal(sample(registryText, 'kubepulse_kube_watch_synced'), 0);
  t.equal(sample(registryText, 'kubepulse_kube_watch_last_sync_timestamp_seconds'), 0);
  t.equal(metadata.resolver.resolve(process.pid, 0), HOST_IDENTITY, 'resolution works meanwhile');
  t.notOk(await metadata.waitForSync(50));
});
