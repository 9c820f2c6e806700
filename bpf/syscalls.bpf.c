// SPDX-License-Identifier: GPL-2.0
/*
 * Syscalls probe: which syscalls each container makes, as a bitmap per
 * cgroup, for seccomp profiles.
 *
 * Only cgroups below a "pod root" (the kubepods cgroup, registered by user
 * space in pod_roots) are recorded, decided in the kernel first, so a host
 * process's syscall costs an inlined array read and one ancestor-id compare
 * per root (pod_roots.bpf.h, shared with the flows probe). What that leaves
 * is the tracepoint itself: attaching to sys_enter puts every task of the
 * node on the syscall slow path, a cost no program can avoid
 * (bench/syscall-loop.c measures it).
 * Because the test is by ancestry, a container's cgroup is recorded from its
 * very first syscall -- including the runtime's own (runc init) between
 * joining the cgroup and exec'ing the workload.
 */
#include "common.bpf.h"
#include "syscalls.h"
#include "pod_roots.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct kp_syscall_bits);
} syscall_bits SEC(".maps");

/* In a tracepoint the current task is the one making the syscall. */
KP_DEFINE_POD_VERDICT(in_pod, void *unused, bpf_get_current_ancestor_cgroup_id(level))

/* struct cgroup before 6.0 kept its ancestors' ids in an array. */
struct cgroup___ids {
	int level;
	__u64 ancestor_ids[];
} __attribute__((preserve_access_index));

/*
 * What bpf_get_current_ancestor_cgroup_id(level) returns, read through CO-RE:
 * raw tracepoints on 5.10 do not have that helper ("unknown func"), so the
 * portable program walks the task's default-hierarchy cgroup itself.
 */
static __always_inline __u64 current_ancestor_cgroup_id(int level)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct cgroup *cgrp = BPF_CORE_READ(task, cgroups, dfl_cgrp);
	struct cgroup *ancestor = NULL;
	__u64 id = 0;

	if (!cgrp || level > BPF_CORE_READ(cgrp, level))
		return 0;
	if (bpf_core_field_exists(((struct cgroup___ids *)0)->ancestor_ids)) {
		bpf_core_read(&id, sizeof(id), &((struct cgroup___ids *)cgrp)->ancestor_ids[level]);
		return id;
	}
	bpf_core_read(&ancestor, sizeof(ancestor), &cgrp->ancestors[level]);
	return ancestor ? BPF_CORE_READ(ancestor, kn, id) : 0;
}

KP_DEFINE_POD_VERDICT(portable_in_pod, void *unused, current_ancestor_cgroup_id(level))

/*
 * portable: what the fallback program does so that 5.10 loads it -- the pod
 * verdict from a CO-RE walk instead of the helper (above), and the bit set
 * with a plain read-modify-write instead of an atomic OR (BPF_ATOMIC, Linux
 * 5.12+; older kernels reject it in the whole program: "BPF_STX uses reserved
 * fields"). Two CPUs setting two new bits of the same word at the same moment
 * may lose one; it is set again the next time that syscall runs.
 */
static __always_inline void record(long id, bool portable)
{
	struct kp_syscall_bits *bits, empty = {};
	__u64 cgid;

	if (!(portable ? portable_in_pod(NULL) : in_pod(NULL)))
		return;
	if (id < 0 || id >= KP_SYSCALL_WORDS * 64)
		return;
	cgid = bpf_get_current_cgroup_id();
	bits = bpf_map_lookup_elem(&syscall_bits, &cgid);
	if (!bits) {
		bpf_map_update_elem(&syscall_bits, &cgid, &empty, BPF_NOEXIST);
		bits = bpf_map_lookup_elem(&syscall_bits, &cgid);
		if (!bits)
			return;
	}
	__u32 word = (__u32)id / 64;
	__u64 mask = 1ULL << ((__u32)id % 64);

	if (word >= KP_SYSCALL_WORDS || (bits->words[word] & mask))
		return;
	if (portable)
		bits->words[word] |= mask;
	else
		__sync_fetch_and_or(&bits->words[word], mask);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(kp_sys_enter_btf, struct pt_regs *regs, long id)
{
	record(id, false);
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int kp_sys_enter_raw(struct bpf_raw_tracepoint_args *ctx)
{
	record((long)ctx->args[1], true); /* what 5.10 loads */
	return 0;
}
