// Image references as runtimes read them, and the allowed-registry match.
import t from 'tap';
import { fromAllowedRegistry, parseImage } from '../../src/audit/image.js';

t.test('parseImage', async (t) => {
  const cases: Array<[string, string, string, string, string]> = [
    // image, registry, name, tag, digest
    ['nginx', 'docker.io', 'docker.io/library/nginx', '', ''],
    ['nginx:1.25', 'docker.io', 'docker.io/library/nginx', '1.25', ''],
    ['bitnami/redis:latest', 'docker.io', 'docker.io/bitnami/redis', 'latest', ''],
    ['index.docker.io/library/busybox', 'docker.io', 'docker.io/library/busybox', '', ''],
    ['ghcr.io/acme/app:v1', 'ghcr.io', 'ghcr.io/acme/app', 'v1', ''],
    ['registry.local:5000/app', 'registry.local:5000', 'registry.local:5000/app', '', ''],
    ['localhost/app:dev', 'localhost', 'localhost/app', 'dev', ''],
    ['quay.io/x/y@sha256:abcd', 'quay.io', 'quay.io/x/y', '', 'sha256:abcd'],
    ['quay.io/x/y:1@sha256:abcd', 'quay.io', 'quay.io/x/y', '1', 'sha256:abcd'],
  ];
  for (const [image, registry, name, tag, digest] of cases) t.same(parseImage(image), { registry, name, tag, digest }, image);
});

t.test('fromAllowedRegistry: a host or a name prefix', async (t) => {
  const allowed = ['ghcr.io/acme', 'registry.local:5000', 'docker.io/library'];
  t.ok(fromAllowedRegistry(parseImage('ghcr.io/acme/app:1'), allowed));
  t.notOk(fromAllowedRegistry(parseImage('ghcr.io/evil/app:1'), allowed));
  t.notOk(fromAllowedRegistry(parseImage('ghcr.io/acmecorp/app:1'), allowed), 'a prefix ends at a path boundary');
  t.ok(fromAllowedRegistry(parseImage('registry.local:5000/x'), allowed));
  t.ok(fromAllowedRegistry(parseImage('nginx'), allowed), 'docker.io/library/nginx');
  t.notOk(fromAllowedRegistry(parseImage('bitnami/redis'), allowed));
});
