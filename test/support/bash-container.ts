// A "container" for tests: a bash process in a kubelet-shaped container
// cgroup that makes TCP connections (bash's /dev/tcp) and DNS queries (dig)
// on command, one command per line, answering one line when done; its
// children (dig) inherit the cgroup, as in a real container.
//   tcp N PORT        N connects to 127.0.0.1:PORT → "tcp <succeeded>"
//   tcpto N HOST PORT   N connects to HOST:PORT → "tcp <succeeded>"
//   dig PORT TYPE NAME  → "dig status: NOERROR" (or "dig failed" when unanswered)
import type { ChildProcess } from 'node:child_process';
import type { PodCgroups } from './pod-cgroups.js';

const workload = (digTimeS: number): string => String.raw`
while read -r cmd a b c; do
  case "$cmd" in
    tcp)   ok=0; for ((i = 0; i < a; i++)); do
             if exec 3<>"/dev/tcp/127.0.0.1/$b"; then exec 3>&-; ok=$((ok + 1)); fi
           done 2>/dev/null; echo "tcp $ok" ;;
    tcpto) ok=0; for ((i = 0; i < a; i++)); do
             if exec 3<>"/dev/tcp/$b/$c"; then exec 3>&-; ok=$((ok + 1)); fi
           done 2>/dev/null; echo "tcp $ok" ;;
    dig)   out=$(dig @127.0.0.1 -p "$a" +time=${digTimeS} +tries=1 "$c" "$b" 2>&1); echo "dig $(grep -o 'status: [A-Z]*' <<<"$out" || echo failed)" ;;
    *)     echo "unknown $cmd" ;;
  esac
done
`;

export interface BashContainer {
  readonly dir: string;
  readonly cgroupId: number;
  readonly child: ChildProcess;
  /** Sends one command, resolves with the one-line answer. */
  run(command: string, timeoutMs?: number): Promise<string>;
}

/** digTimeS: how long dig waits for an answer before it says "failed". */
export function startBashContainer(cgroups: PodCgroups, podUid: string, containerId: string, digTimeS = 2): BashContainer {
  const { dir, cgroupId } = cgroups.container(podUid, containerId);
  const child = cgroups.spawnMoved(dir, ['bash', '-c', workload(digTimeS)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const lines: string[] = [];
  const waiters: Array<(line: string) => void> = [];
  let pending = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    pending += d;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const w = waiters.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  return {
    dir,
    cgroupId,
    child,
    run(command, timeoutMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return Promise.reject(new Error(`workload exited: ${stderr}`));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`workload did not answer "${command}" in ${timeoutMs} ms: ${stderr}`)), timeoutMs);
        const done = (line: string) => {
          clearTimeout(timer);
          resolve(line);
        };
        const early = lines.shift();
        if (early !== undefined) done(early);
        else waiters.push(done);
        child.stdin!.write(command + '\n');
      });
    },
  };
}
