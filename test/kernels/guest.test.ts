// Proves the QEMU guest harness (issue 7) on the real guest kernel: Debian's
// linux-image-amd64 (6.1.x, kprobes), booted under TCG. Each runInGuest is one
// boot (~2.5-3 s here). Skipped, with the reason printed, only when QEMU or the
// kernel package is unavailable on this machine.
import t from 'tap'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { prepareGuest, repoRoot, runInGuest, shQuote, type GuestResult } from './guest.js'

const avail = await prepareGuest()
const skip = avail.ok ? false : `guest kernel unavailable: ${avail.reason}`
if (avail.ok) {
  const k = avail.kernel
  t.comment(`guest kernel ${k.pkg} ${k.pkgVersion} (${k.release}), prepared in ${avail.prepareMs} ms`)
} else {
  t.comment(`SKIP ${skip}`)
}

const bpftool = existsSync('/usr/sbin/bpftool') ? '/usr/sbin/bpftool' : undefined

const timing = (r: GuestResult): string =>
  `boot ${r.bootMs ?? '?'} ms (guest uptime ${r.guestUptimeAtStart ?? '?'} s), whole cycle ${r.durationMs} ms`

function diag(r: GuestResult): { console: string; error?: string } {
  return r.error === undefined ? { console: r.console } : { console: r.console, error: r.error }
}

t.test('the guest kernel has what the kprobe path needs (BTF, kprobes, tracefs, cgroup2, BPF loads), and results come back out', { skip }, async (t) => {
  const runDir = await mkdtemp(join(tmpdir(), 'kp-guest-test-'))
  t.teardown(() => rm(runDir, { recursive: true, force: true }))
  const script = `
    echo "release=$(uname -r)"
    test -e /sys/kernel/btf/vmlinux && echo btf=yes
    test -d /sys/bus/event_source/devices/kprobe && echo kprobe_pmu=yes
    test -e /sys/kernel/tracing/kprobe_events && echo kprobe_events=yes
    grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts && echo cgroup2=yes
    grep -q ' /sys/fs/bpf bpf ' /proc/mounts && echo bpffs=yes
    echo "lo_flags=$(cat /sys/class/net/lo/flags)"
    touch /tmp/w && echo tmp_writable=yes
    test -x /usr/bin/node && test -f ${shQuote(join(repoRoot, 'package.json'))} && echo host_paths=yes
    echo "hello from $(uname -r)" > ${shQuote(join(runDir, 'result.txt'))}
    echo "FOO=$FOO"
    echo "clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
    ${bpftool ? `${bpftool} feature probe kernel | grep -E 'program_type (kprobe|tracing) '` : ''}
  `
  const r = await runInGuest({ command: script, runDir, env: { FOO: `a b'c$` }, timeoutMs: 120_000 })
  t.comment(timing(r))
  t.equal(r.exitCode, 0, 'the script exits 0', diag(r))
  const out = r.output
  t.match(out, /^release=6\.1\.\d+-\d+-amd64$/m, 'uname -r in the guest is the 6.1 kernel')
  t.equal(r.kernelRelease, /^release=(.*)$/m.exec(out)?.[1], 'kernelRelease names the booted kernel')
  for (const want of ['btf', 'kprobe_pmu', 'kprobe_events', 'cgroup2', 'bpffs', 'tmp_writable', 'host_paths']) {
    t.match(out, new RegExp(`^${want}=yes$`, 'm'), `${want} in the guest`)
  }
  // IFF_UP (0x1) | IFF_LOOPBACK (0x8)
  const flags = Number(/^lo_flags=(0x[0-9a-f]+)$/m.exec(out)?.[1])
  t.equal(flags & 0x9, 0x9, 'loopback is up')
  t.match(out, /^FOO=a b'c\$$/m, 'env reaches the command, quoted')
  // latencies are measured with the guest's clock: it must not be jiffies (4 ms steps,
  // and it loses time when the host is busy)
  t.match(out, /^clocksource=(tsc|tsc-early|hpet|acpi_pm)$/m, 'the guest has a fine-grained clocksource')
  if (bpftool) {
    // bpftool loads a small program of each type to see which the kernel takes
    t.match(out, /program_type kprobe is available/, 'bpftool in the guest loads a kprobe program')
    t.match(out, /program_type tracing is available/, 'bpftool in the guest loads a tracing (fentry/tp_btf) program')
  } else {
    t.comment('no /usr/sbin/bpftool on the host: BPF load probe skipped')
  }
  t.equal(await readFile(join(runDir, 'result.txt'), 'utf8'), `hello from ${r.kernelRelease}\n`,
    'a file written to runDir in the guest is on the host')
})

t.test('a failing command reports its exit status', { skip }, async (t) => {
  const r = await runInGuest({ command: ['sh', '-c', 'echo failing >&2; exit 7'], timeoutMs: 120_000 })
  t.comment(timing(r))
  t.equal(r.exitCode, 7, 'exit status 7 comes back', diag(r))
  t.equal(r.output, 'failing\n', 'stderr is in the output')
  t.equal(r.error, undefined)
})

t.test('node runs in the guest, and a kprobe on tcp_connect fires for its loopback connect', { skip }, async (t) => {
  const js = `
    const net = require('net');
    const s = net.createServer((c) => c.end()).listen(0, '127.0.0.1', () => {
      const c = net.connect(s.address().port, '127.0.0.1', () => {
        console.log('sum=' + (1 + 1));
        console.log('connected');
        c.destroy(); s.close();
      });
    });`
  const script = `
    T=/sys/kernel/tracing
    echo 'p:kp_harness tcp_connect' >> $T/kprobe_events || exit 10
    echo 1 > $T/events/kprobes/kp_harness/enable || exit 11
    node -e ${shQuote(js)} || exit 12
    echo 0 > $T/events/kprobes/kp_harness/enable
    echo "kprobe_hits=$(grep -c 'kp_harness:' $T/trace)"
  `
  const r = await runInGuest({ command: script, timeoutMs: 150_000 })
  t.comment(timing(r))
  t.equal(r.exitCode, 0, 'exits 0', diag(r))
  t.match(r.output, /^sum=2$/m, "node -e 'console.log(1+1)' prints 2")
  t.match(r.output, /^connected$/m, 'TCP over 127.0.0.1 works in the guest')
  const hits = Number(/^kprobe_hits=(\d+)$/m.exec(r.output)?.[1] ?? 0)
  t.ok(hits >= 1, `the tcp_connect kprobe fired (${hits} hits)`)
})

t.test('a guest that outlives timeoutMs is killed and reported', { skip }, async (t) => {
  const r = await runInGuest({ command: 'sleep 600', timeoutMs: 1_500 })
  t.equal(r.timedOut, true, 'timedOut')
  t.equal(r.exitCode, null, 'no exit status')
  t.match(r.error ?? '', /did not finish within 1500 ms/)
  t.ok(r.durationMs < 5_000, `QEMU was killed promptly (${r.durationMs} ms)`)
})
