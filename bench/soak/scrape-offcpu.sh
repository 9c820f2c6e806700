#!/bin/sh
# Where a slow scrape's time goes, for diagnosis: attaches bpftrace to the
# daemon's main thread (the one that runs JavaScript) and prints one line per
# connection it accepts (a scrape, in the soak), from accept4 to the first
# write of the answer: on CPU, waiting runnable (preempted), asleep, context
# switches, time inside the addon's event delivery and inside V8's
# Heap::CollectGarbage (count after the slash). Found with it: a slow scrape
# is ~3× its CPU in preemption, not event batches in the way.
#   bench/soak/scrape-offcpu.sh <daemon pid>     (root; Ctrl-C to stop)
# Costs the traced process and the machine a little (every context switch of
# the node is filtered), so a traced soak's figures are not the soak's.
set -eu
pid=${1:?usage: scrape-offcpu.sh <daemon pid>}
here=$(cd "$(dirname "$0")" && pwd)
addon=$(cd "$here/../.." && pwd)/build/Release/kubepulse.node
node=$(readlink -f "/proc/$pid/exe")
# Syscall tracepoints are found through tracefs.
grep -qs ' /sys/kernel/tracing tracefs ' /proc/mounts || mount -t tracefs nodev /sys/kernel/tracing
deliver=$(nm "$addon" | awk '/ T .*EventPoller14DeliverMessage/ {print $3; exit}')
gc=$(nm -D "$node" | awk '/ T _ZN2v88internal4Heap14CollectGarbageE/ {print $3; exit}')
[ -n "$deliver" ] || { echo "scrape-offcpu: no EventPoller::DeliverMessage in $addon" >&2; exit 1; }
[ -n "$gc" ] || { echo "scrape-offcpu: no exported v8::internal::Heap::CollectGarbage in $node" >&2; exit 1; }
exec bpftrace -e "
BEGIN { @cur = -1; @on_ts = 0; @off_ts = 0; @dm_ts = 0; @gc_ts = 0; }
tracepoint:syscalls:sys_exit_accept4 /tid == $pid && args->ret >= 0/ {
  @start = nsecs; @cur = args->ret; @on_ts = nsecs; @on = 0; @rq = 0; @sl = 0; @nsw = 0;
  @dm = 0; @ndm = 0; @gc = 0; @ngc = 0;
}
tracepoint:sched:sched_switch /args->prev_pid == $pid/ {
  @off_ts = nsecs; @off_state = args->prev_state;
  if (@cur >= 0) { @on += nsecs - @on_ts; }
}
tracepoint:sched:sched_switch /args->next_pid == $pid/ {
  @on_ts = nsecs;
  if (@off_ts > 0 && @cur >= 0) {
    \$d = nsecs - @off_ts; @nsw++;
    if (@off_state == 0 || @off_state >= 256) { @rq += \$d; } else { @sl += \$d; }
  }
}
uprobe:$addon:$deliver /tid == $pid/ { @dm_ts = nsecs; }
uretprobe:$addon:$deliver /tid == $pid && @dm_ts > 0/ { if (@cur >= 0) { @dm += nsecs - @dm_ts; @ndm++; } }
uprobe:$node:$gc /tid == $pid/ { @gc_ts = nsecs; }
uretprobe:$node:$gc /tid == $pid && @gc_ts > 0/ { if (@cur >= 0) { @gc += nsecs - @gc_ts; @ngc++; } }
tracepoint:syscalls:sys_enter_writev,tracepoint:syscalls:sys_enter_write /tid == $pid && @cur >= 0 && args->fd == @cur/ {
  printf(\"accepted→answered %u ms: on CPU %u, runnable %u, asleep %u, switches %u, delivering events %u/%u, GC %u/%u\\n\",
    (nsecs - @start) / 1000000, @on / 1000000, @rq / 1000000, @sl / 1000000, @nsw, @dm / 1000000, @ndm, @gc / 1000000, @ngc);
  @cur = -1;
}
END { clear(@cur); clear(@on_ts); clear(@off_ts); clear(@dm_ts); clear(@gc_ts); clear(@start); clear(@on); clear(@rq); clear(@sl); clear(@nsw);
  clear(@dm); clear(@ndm); clear(@gc); clear(@ngc); clear(@off_state); }
"
