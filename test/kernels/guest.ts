// Run a host command inside a second, real kernel (Debian's linux-image-amd64,
// 6.1.x, which has kprobes) booted under QEMU TCG — issue 7.
//
//   const avail = await prepareGuest()           // once per process, cached on disk
//   if (!avail.ok) t.skip(avail.reason, () => {})
//   const r = await runInGuest({ command: 'node dist/cmd/kubepulse.js --help' })
//   r.exitCode, r.output, r.console
//
// The guest sees the host's root read-only at the same paths (so /usr/bin/node,
// /usr/lib, /work/main and node_modules all work unchanged), fresh /proc, /sys,
// /sys/kernel/btf, tracefs at /sys/kernel/tracing, debugfs, cgroup2 at
// /sys/fs/cgroup, bpffs at /sys/fs/bpf, tmpfs at /tmp /var/tmp /run /dev/shm,
// loopback up (no other network), and one host directory — `runDir` — mounted
// read-write at its own host path: write results there to get them back out.
// With `overlay: true` every path is writable (tmpfs over the host root; lost
// at power-off). Only the command's working directory and environment are
// what you give; PATH is the usual system one and HOME=/root (read-only unless
// overlay).
//
// Never KVM: /dev/kvm here is not hardware KVM and the guest hangs silently.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
export const repoRoot = resolve(here, '..', '..')
export const prepareScript = join(here, 'prepare.sh')
/** prepare.sh's exit status meaning "unavailable here, skip" */
export const SKIP_EXIT = 77

/** The kernel lines prepare.sh knows (KUBEPULSE_GUEST_KERNEL): bullseye's 5.10, bookworm's 6.1, bookworm-backports' 6.12. */
export const KERNEL_LINES = ['5.10', '6.1', '6.12'] as const
export type KernelLine = (typeof KERNEL_LINES)[number]

export interface GuestKernel {
  line: KernelLine
  dir: string
  pkg: string
  pkgVersion: string
  release: string
  vmlinux: string
  initramfs: string
  modules: string[]
  kprobes: boolean
}

export type GuestAvailability =
  | { ok: true; kernel: GuestKernel; prepareMs: number }
  | { ok: false; reason: string }

export interface RunInGuestOptions {
  /** Which kernel to boot. Default 6.1. */
  kernel?: KernelLine
  /** A shell script (run by the host's /bin/sh in the guest) or an argv (quoted for you). */
  command: string | readonly string[]
  /** Host-side limit for the whole cycle (boot + command + power-off); QEMU is killed after it. Default 120 s. */
  timeoutMs?: number
  /** Extra environment for the command (on top of PATH, HOME=/root, TERM=dumb). */
  env?: Readonly<Record<string, string>>
  /** Working directory in the guest. Default: the repository root (same path as on the host). */
  cwd?: string
  /**
   * Host directory mounted read-write in the guest at the same path (created with
   * mkdtemp under os.tmpdir() when not given). The command script lives there as
   * .kp-cmd.sh. A directory this function created is removed afterwards unless
   * keepRunDir is set; one you pass is left alone.
   */
  runDir?: string
  keepRunDir?: boolean
  /** Guest memory, MiB. Default 1024. */
  memoryMb?: number
  /** Guest CPUs. Default 1 (a second TCG vCPU costs ~1 s of boot on this machine). */
  cpus?: number
  /** Make the whole host root writable in the guest (overlayfs, tmpfs upper). Default false. */
  overlay?: boolean
  /** Extra kernel command-line arguments. */
  kernelArgs?: readonly string[]
  /** Live console text, as it arrives (e.g. to stream to a test's log). */
  onConsole?: (text: string) => void
  signal?: AbortSignal
}

export interface GuestResult {
  /** The command's exit status, or null when the guest never reported one (see error). */
  exitCode: number | null
  timedOut: boolean
  /** Why exitCode is null (timeout, init failure, crash). */
  error?: string
  /** Whole serial console (firmware, kernel messages, init, the command), \r\n folded to \n. */
  console: string
  /** Only the command's stdout+stderr (what it printed between start and exit). */
  output: string
  /** Host ms from spawning QEMU until the guest was ready to run the command. */
  bootMs: number | null
  /** Host ms for the whole cycle. */
  durationMs: number
  /** Guest uptime (s) when the command started, as the guest kernel saw it. */
  guestUptimeAtStart: number | null
  runDir: string
  kernelRelease: string
  qemuExitCode: number | null
}

const MARK_READY = 'KP-GUEST-READY'
const MARK_BEGIN = 'KP-GUEST-BEGIN'
const MARK_EXIT = 'KP-GUEST-EXIT='
const MARK_INIT_FAILED = 'KP-GUEST-INIT-FAILED:'

const prepared = new Map<KernelLine, Promise<GuestAvailability>>()

/** Run prepare.sh once per process and kernel line (it is itself cached on disk). */
export function prepareGuest(line: KernelLine = '6.1'): Promise<GuestAvailability> {
  let p = prepared.get(line)
  if (p === undefined) prepared.set(line, (p = runPrepare(line)))
  return p
}

async function runPrepare(line: KernelLine): Promise<GuestAvailability> {
  const start = Date.now()
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (res) => {
      const p = spawn('bash', [prepareScript], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, KUBEPULSE_GUEST_KERNEL: line },
      })
      let stdout = ''
      let stderr = ''
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      p.on('error', (e) => res({ code: null, stdout, stderr: stderr + String(e) }))
      p.on('close', (code) => res({ code, stdout, stderr }))
    },
  )
  const lastLine = (s: string): string => s.trim().split('\n').at(-1) ?? ''
  if (code !== 0) {
    const why = lastLine(stderr) || `prepare.sh exited ${String(code)}`
    if (code === SKIP_EXIT) return { ok: false, reason: why }
    throw new Error(`guest kernel preparation failed: ${why}\n${stderr}`)
  }
  const dir = lastLine(stdout)
  const env = parseEnvFile(await readFile(join(dir, 'guest.env'), 'utf8'))
  const get = (k: string): string => {
    const v = env[k]
    if (v === undefined) throw new Error(`${dir}/guest.env has no ${k}`)
    return v
  }
  const kernel: GuestKernel = {
    line,
    dir,
    pkg: get('GUEST_PKG'),
    pkgVersion: get('GUEST_PKG_VERSION'),
    release: get('GUEST_KERNEL_RELEASE'),
    vmlinux: get('GUEST_VMLINUX'),
    initramfs: get('GUEST_INITRAMFS'),
    modules: get('GUEST_MODULES').split(/\s+/).filter(Boolean),
    kprobes: get('GUEST_KPROBES') === 'y',
  }
  for (const f of [kernel.vmlinux, kernel.initramfs]) {
    if (!existsSync(f)) throw new Error(`prepared guest kernel is missing ${f}`)
  }
  return { ok: true, kernel, prepareMs: Date.now() - start }
}

function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line)
    if (!m?.[1]) continue
    let v = m[2] ?? ''
    if (v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1)
    out[m[1]] = v
  }
  return out
}

/** Quote one word for /bin/sh. */
export function shQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`
}

function commandScript(opts: RunInGuestOptions): string {
  const lines = ['# written by test/kernels/guest.ts; run by the guest init, chrooted into the host root']
  lines.push(`cd ${shQuote(opts.cwd ?? repoRoot)} || exit 126`)
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`bad environment variable name: ${k}`)
    lines.push(`export ${k}=${shQuote(v)}`)
  }
  lines.push(`echo ${MARK_BEGIN}`)
  const cmd = typeof opts.command === 'string' ? opts.command : opts.command.map(shQuote).join(' ')
  // a subshell, so that `exit N` in a script gives N and the marker logic stays ours
  lines.push('(', cmd, ') </dev/null 2>&1')
  return lines.join('\n') + '\n'
}

const children = new Set<ChildProcess>()
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL')
})

/** Boot the guest kernel once, run one command in it, power off. */
export async function runInGuest(opts: RunInGuestOptions): Promise<GuestResult> {
  const avail = await prepareGuest(opts.kernel)
  if (!avail.ok) throw new Error(`guest kernel unavailable: ${avail.reason}`)
  const k = avail.kernel
  const ownRunDir = opts.runDir === undefined
  const runDir = resolve(opts.runDir ?? (await mkdtemp(join(tmpdir(), 'kp-guest-'))))
  if (/[\s,]/.test(runDir)) throw new Error(`runDir must not contain spaces or commas: ${runDir}`)
  await mkdir(runDir, { recursive: true })
  await writeFile(join(runDir, '.kp-cmd.sh'), commandScript(opts), { mode: 0o755 })

  const cpus = opts.cpus ?? 1
  const append = [
    'console=ttyS0',
    'quiet',
    'panic=-1',
    'oops=panic',
    // the crypto self-tests cost ~0.4 s of boot under TCG here. (Do not add acpi=off:
    // it saves ~0.4 s more but leaves the guest without HPET/PM timer, so the TSC
    // cannot be calibrated and the clock falls back to jiffies: 4 ms steps that lose
    // time when the host is busy - wrong latencies and timeouts.)
    'cryptomgr.notests',
    `kp.run=${runDir}`,
    `kp.repo=${repoRoot}`,
    'kp.cmd=.kp-cmd.sh',
    ...(opts.overlay ? ['kp.overlay=1'] : []),
    ...(opts.kernelArgs ?? []),
  ].join(' ')
  const args = [
    '-accel', 'tcg',
    '-machine', 'pc',
    '-m', String(opts.memoryMb ?? 1024),
    '-smp', String(cpus),
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-chardev', 'stdio,id=con,signal=off',
    '-serial', 'chardev:con',
    '-kernel', k.vmlinux,
    '-initrd', k.initramfs,
    '-append', append,
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04',
    '-fsdev', 'local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap',
    '-device', 'virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot',
    '-fsdev', `local,id=kprun,path=${runDir},security_model=none,multidevs=remap`,
    '-device', 'virtio-9p-pci,fsdev=kprun,mount_tag=kprun',
  ]

  const timeoutMs = opts.timeoutMs ?? 120_000
  const start = Date.now()
  let bootMs: number | null = null
  let timedOut = false
  let raw = ''
  const qemuExit = await new Promise<{ code: number | null; spawnError?: string }>((res) => {
    const child = spawn('qemu-system-x86_64', args, { stdio: ['pipe', 'pipe', 'pipe'] })
    children.add(child)
    const kill = (): void => {
      child.kill('SIGKILL')
    }
    const timer = setTimeout(() => {
      timedOut = true
      kill()
    }, timeoutMs)
    const onAbort = (): void => kill()
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    const onData = (s: string): void => {
      raw += s
      if (bootMs === null && raw.includes(MARK_READY)) bootMs = Date.now() - start
      opts.onConsole?.(s)
    }
    child.stdout.setEncoding('utf8') // keeps multi-byte characters split across chunks whole
    child.stderr.setEncoding('utf8')
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('error', (e) => {
      clearTimeout(timer)
      children.delete(child)
      res({ code: null, spawnError: String(e) })
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      opts.signal?.removeEventListener('abort', onAbort)
      children.delete(child)
      res({ code })
    })
  })
  const durationMs = Date.now() - start

  const consoleText = raw.replace(/\r\n/g, '\n').replace(/\r/g, '')
  const exitMarker = new RegExp(`^${MARK_EXIT}(\\d+)$`, 'm').exec(consoleText)
  const initFailed = new RegExp(`^${MARK_INIT_FAILED} (.*)$`, 'm').exec(consoleText)
  const ready = new RegExp(`^${MARK_READY} uptime=([\\d.]+)`, 'm').exec(consoleText)
  const beginAt = consoleText.search(new RegExp(`^${MARK_BEGIN}$`, 'm'))
  let output = ''
  if (beginAt >= 0) {
    const from = beginAt + MARK_BEGIN.length + 1
    const end = exitMarker ? consoleText.lastIndexOf(`\n${MARK_EXIT}`) : consoleText.length
    output = consoleText.slice(from, Math.max(from, end + (exitMarker ? 1 : 0)))
  }

  let exitCode: number | null = null
  let error: string | undefined
  const q = qemuExit.code
  if (qemuExit.spawnError) error = `cannot start qemu-system-x86_64: ${qemuExit.spawnError}`
  else if (timedOut) error = `guest did not finish within ${timeoutMs} ms (QEMU killed)`
  else if (opts.signal?.aborted) error = 'aborted'
  else if (initFailed) error = `guest init failed: ${initFailed[1] ?? ''}`
  else if (exitMarker?.[1] !== undefined && q !== null && q % 2 === 1) {
    // the marker has the exact status; the debug-exit port has it clamped to 0..127
    exitCode = Number(exitMarker[1])
    if (Math.min(exitCode, 127) !== (q - 1) >> 1) {
      error = `exit status mismatch: console says ${exitCode}, debug-exit says ${(q - 1) >> 1}`
      exitCode = null
    }
  } else if (q !== null && q % 2 === 1) exitCode = (q - 1) >> 1
  else error = `guest stopped without reporting a status (QEMU exit ${String(q)}; kernel panic or power-off?)`

  if (ownRunDir && !opts.keepRunDir) await rm(runDir, { recursive: true, force: true })

  const result: GuestResult = {
    exitCode,
    timedOut,
    console: consoleText,
    output,
    bootMs,
    durationMs,
    guestUptimeAtStart: ready?.[1] !== undefined ? Number(ready[1]) : null,
    runDir,
    kernelRelease: k.release,
    qemuExitCode: q,
  }
  if (error !== undefined) result.error = error
  return result
}
