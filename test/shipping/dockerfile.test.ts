// Dockerfile and .dockerignore, read statically (test/shipping/image.test.ts
// builds and runs the image): node 20 bookworm build stage running the
// Makefile's build with its build packages, a slim runtime stage holding
// exactly the daemon's runtime pieces, flattened; an entrypoint that is the
// package's bin, and a build context that keeps every input of `make daemon`.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from './k8s.js'
import { daemonFlags } from './daemon-contract.js'

const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8')
// Instructions with their continuation lines joined, comments dropped.
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map(l => l.trim())
  .filter(l => l && !l.startsWith('#'))
const stages: string[][] = []
for (const line of instructions) {
  if (/^FROM\s/i.test(line)) stages.push([line])
  else stages.at(-1)?.push(line)
}

t.test('the official node 20 bookworm images by default, as build arguments', async t => {
  t.equal(stages.length, 3)
  t.match(stages[0]?.[0], /^FROM \$\{BUILD_IMAGE\} AS build$/)
  t.match(stages[1]?.[0], /^FROM \$\{RUNTIME_IMAGE\} AS runtime$/)
  t.match(stages[2]?.[0], /^FROM scratch$/)
  t.match(dockerfile, /^ARG NODE_VERSION=20$/m)
  t.match(dockerfile, /^ARG BUILD_IMAGE=node:\$\{NODE_VERSION\}-bookworm$/m)
  t.match(dockerfile, /^ARG RUNTIME_IMAGE=node:\$\{NODE_VERSION\}-bookworm-slim$/m)
})

t.test('the build stage runs the Makefile build with its build packages', async t => {
  const build = stages[0]!.join('\n')
  t.match(build, /RUN make -o node_modules\/\.package-lock\.json daemon 'PACKAGES=\$\(BUILD_PACKAGES\)'/)
  t.match(build, /npm prune --omit=dev/)
  const makefile = readFileSync(join(repoRoot, 'Makefile'), 'utf8')
  t.match(makefile, /^build: daemon /m, 'make daemon is make build less the manifests')
  const wanted = /^BUILD_PACKAGES\s*:=\s*(.*)$/m.exec(makefile)?.[1]?.trim().split(/\s+/) ?? []
  t.ok(wanted.length > 0, 'Makefile names BUILD_PACKAGES')
  const aptLine = stages[0]!.find(l => l.includes('apt-get install')) ?? ''
  for (const p of wanted) t.ok(aptLine.split(/\s+/).includes(p), `installs ${p}`)
})

t.test('the runtime holds the daemon and nothing else, flattened into one layer', async t => {
  const runtime = stages[1]!
  const copies = runtime.filter(l => l.startsWith('COPY')).map(l => l.split(/\s+/).slice(2, -1).join(' '))
  t.strictSame(copies.sort(), [
    '/src/build/Release/kubepulse.node',
    '/src/build/bpf/',
    '/src/dist',
    '/src/node',
    '/src/node_modules',
    '/src/package.json',
  ].sort())
  t.ok(runtime.every(l => !l.startsWith('COPY') || l.includes('--from=build')), 'only copies from the build stage')
  const final = stages[2]!
  t.strictSame(final.filter(l => l.startsWith('COPY')), ['COPY --from=runtime / /'], 'the final stage is the runtime root, whole')
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { bin: Record<string, string> }
  const entry = final.find(l => l.startsWith('ENTRYPOINT'))
  t.strictSame(JSON.parse(entry?.replace(/^ENTRYPOINT\s+/, '') ?? '[]'), ['node', `/opt/kubepulse/${pkg.bin.kubepulse}`])
  t.strictSame(JSON.parse(final.find(l => l.startsWith('CMD'))?.replace(/^CMD\s+/, '') ?? '[]'), ['run'])
  t.match(final.join(' '), /ENV PATH=/, 'PATH is set again (scratch has none)')
  for (const env of final.join(' ').matchAll(/KUBEPULSE_([A-Z_]+)=/g)) {
    const flag = env[1]!.toLowerCase().replace(/_/g, '-')
    t.ok(daemonFlags.has(flag), `KUBEPULSE_${env[1]} is the env form of --${flag}`)
  }
})

t.test('.dockerignore keeps every input of make daemon', async t => {
  const ignored = readFileSync(join(repoRoot, '.dockerignore'), 'utf8')
    .split('\n')
    .map(l => l.trim())
    .filter(l => l && !l.startsWith('#'))
  for (const input of ['Makefile', 'package.json', 'package-lock.json', 'tsconfig.json', 'binding.gyp', 'bpf', 'native', 'src', 'cmd']) {
    t.notOk(ignored.includes(input), `${input} is in the build context`)
  }
  for (const output of ['node_modules', 'build', 'dist', '.git']) t.ok(ignored.includes(output), `${output} is not sent`)
})
