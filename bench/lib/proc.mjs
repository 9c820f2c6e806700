// What the benchmark reads from /proc about a process: CPU time, memory, and the BPF programs
// it holds (each BPF program fd's fdinfo carries prog_id, run_time_ns and run_cnt when
// kernel.bpf_stats_enabled=1, so no bpftool and no guessing by program name is needed).
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

let clockTicks = 0;

export function clkTck() {
  if (!clockTicks) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** user+sys CPU seconds of a process (all its threads), or NaN when it is gone. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name may hold spaces and parentheses: fields start after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14, stime field 15
    return (Number(fields[11]) + Number(fields[12])) / clkTck();
  } catch {
    return NaN;
  }
}

/**
 * user+sys CPU seconds of the process's main thread (tid = pid: the JavaScript thread of a
 * node process) and of all its other threads (native threads, V8 GC helpers, libuv pool).
 */
export function threadCpuSeconds(pid) {
  let main = NaN;
  let others = 0;
  let tids;
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return { main, others: NaN };
  }
  for (const tid of tids) {
    const s = cpuSeconds(`${pid}/task/${tid}`);
    if (!Number.isFinite(s)) continue;
    if (tid === String(pid)) main = s;
    else others += s;
  }
  return { main, others };
}

/** VmHWM (peak) and VmRSS (now) in bytes. */
export function memory(pid) {
  const out = { peak: NaN, rss: NaN };
  try {
    for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
      const m = /^(VmHWM|VmRSS):\s+(\d+) kB/.exec(line);
      if (m) out[m[1] === 'VmHWM' ? 'peak' : 'rss'] = Number(m[2]) * 1024;
    }
  } catch {
    /* gone */
  }
  return out;
}

/** Map prog_id → {runTimeNs, runCnt, type} for every BPF program fd the process holds. */
export function bpfPrograms(pid) {
  const progs = new Map();
  let fds;
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return progs;
  }
  for (const fd of fds) {
    let target;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (target !== 'anon_inode:bpf-prog') continue;
    let info;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    const field = (name) => {
      const m = new RegExp(`^${name}:\\s+(\\S+)`, 'm').exec(info);
      return m ? m[1] : undefined;
    };
    const id = Number(field('prog_id'));
    if (!Number.isFinite(id)) continue;
    progs.set(id, {
      runTimeNs: Number(field('run_time_ns') ?? NaN),
      runCnt: Number(field('run_cnt') ?? NaN),
      type: Number(field('prog_type')),
      tag: field('prog_tag') ?? '',
    });
  }
  return progs;
}

/** Names of BPF programs by id, from bpftool when it is there (names are cosmetic). */
export function bpfProgramNames() {
  const names = new Map();
  try {
    const list = JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' }));
    for (const p of list) names.set(p.id, `${p.name ?? '?'} (${p.type})`);
  } catch {
    /* bpftool missing: ids only */
  }
  return names;
}

/** Ids of loaded BPF programs whose name starts with prefix (any process's). */
export function bpfProgramIdsNamed(prefix) {
  const ids = new Set();
  try {
    const list = JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' }));
    for (const p of list) if (typeof p.name === 'string' && p.name.startsWith(prefix)) ids.add(p.id);
  } catch {
    /* bpftool missing */
  }
  return ids;
}

/** Per-program deltas between two bpfPrograms() snapshots. */
export function bpfDelta(before, after, names) {
  const out = [];
  for (const [id, a] of after) {
    const b = before.get(id) ?? { runTimeNs: 0, runCnt: 0 };
    const runCnt = a.runCnt - b.runCnt;
    const runTimeNs = a.runTimeNs - b.runTimeNs;
    // the tag is a hash of the program's instructions: the same program across runs, where ids
    // change and names may repeat
    out.push({
      id,
      name: `${names?.get(id) ?? `prog ${id}`} ${a.tag.slice(0, 6)}`,
      runCnt,
      runTimeNs,
      nsPerHit: runCnt > 0 ? runTimeNs / runCnt : null,
    });
  }
  return out.sort((x, y) => x.name.localeCompare(y.name));
}
