// Command-line front end of guest.ts, for humans and Makefiles: see run.sh.
import { parseArgs } from 'node:util'
import { KERNEL_LINES, prepareGuest, runInGuest, SKIP_EXIT, type KernelLine } from './guest.js'

const usage = `usage: test/kernels/run.sh [options] [--] command [args...]
Boots the guest kernel (Debian linux-image-amd64, under QEMU TCG), runs the
command in it (cwd: the repository root, the host root read-only at the same
paths), streams the console, and exits with the command's exit status.
A single argument is run as a shell script; several are quoted as an argv.
  --kernel LINE       5.10, 6.1 (default) or 6.12
  --timeout SECONDS   kill QEMU after this long (default 120)
  --env NAME=VALUE    environment for the command (repeatable)
  --cwd DIR           working directory in the guest
  --run-dir DIR       host directory mounted read-write at the same path in the guest
  --overlay           make every path writable in the guest (changes are discarded)
  --cpus N, --mem MB  guest CPUs (default 1) and memory (default 1024)
  --quiet             print only the command's output, not the whole console
Exit: the command's status; 124 timeout; 125 harness or guest failure; 77 no guest here.`

// tap's default globs take every .ts under test/ for a test file: run bare by tap,
// this is not one, so end quietly (tap reports "no tests found").
if (process.env.TAP === '1' && process.argv.length <= 2) process.exit(0)

// Options stop at the first word that is not one (or at --): the rest is the command.
const argv = process.argv.slice(2)
let split = argv.indexOf('--')
if (split < 0) {
  const takesValue = new Set(['--kernel', '--timeout', '--env', '--cwd', '--run-dir', '--cpus', '--mem'])
  split = 0
  while (split < argv.length && (argv[split] ?? '').startsWith('-')) {
    split += takesValue.has(argv[split] ?? '') ? 2 : 1
  }
}
const { values } = parseArgs({
  args: argv.slice(0, split),
  options: {
    kernel: { type: 'string' },
    timeout: { type: 'string' },
    env: { type: 'string', multiple: true },
    cwd: { type: 'string' },
    'run-dir': { type: 'string' },
    overlay: { type: 'boolean' },
    cpus: { type: 'string' },
    mem: { type: 'string' },
    quiet: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
})
const positionals = argv.slice(argv[split] === '--' ? split + 1 : split)
if (values.help || positionals.length === 0) {
  console.error(usage)
  process.exit(values.help ? 0 : 2)
}
const env: Record<string, string> = {}
for (const e of values.env ?? []) {
  const i = e.indexOf('=')
  if (i <= 0) {
    console.error(`run.sh: --env wants NAME=VALUE, got ${e}`)
    process.exit(2)
  }
  env[e.slice(0, i)] = e.slice(i + 1)
}

const line = (values.kernel ?? '6.1') as KernelLine
if (!KERNEL_LINES.includes(line)) {
  console.error(`run.sh: --kernel wants one of ${KERNEL_LINES.join(', ')}, got ${line}`)
  process.exit(2)
}
const avail = await prepareGuest(line)
if (!avail.ok) {
  console.error(`run.sh: SKIP: ${avail.reason}`)
  process.exit(SKIP_EXIT)
}
const r = await runInGuest({
  kernel: line,
  command: positionals.length === 1 ? (positionals[0] ?? '') : positionals,
  env,
  timeoutMs: Number(values.timeout ?? 120) * 1000,
  overlay: values.overlay ?? false,
  ...(values.cwd !== undefined ? { cwd: values.cwd } : {}),
  ...(values['run-dir'] !== undefined ? { runDir: values['run-dir'] } : {}),
  ...(values.cpus !== undefined ? { cpus: Number(values.cpus) } : {}),
  ...(values.mem !== undefined ? { memoryMb: Number(values.mem) } : {}),
  ...(values.quiet ? {} : { onConsole: (s: string) => void process.stdout.write(s.replace(/\r/g, '')) }),
})
if (values.quiet) process.stdout.write(r.output)
console.error(
  `run.sh: ${avail.kernel.release}: ` +
    (r.exitCode === null ? `FAILED: ${r.error ?? 'unknown'}` : `exit ${r.exitCode}`) +
    ` (boot ${r.bootMs ?? '?'} ms, total ${r.durationMs} ms)`,
)
process.exit(r.exitCode ?? (r.timedOut ? 124 : 125))
