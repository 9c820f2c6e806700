// SPDX-License-Identifier: GPL-2.0
/*
 * Syscalls probe: which syscalls each container makes, as a bitmap per
 * cgroup, for seccomp profiles.
 *
 * Only cgroups below a "pod root" (the kubepods cgroup, registered by user
 * space in watched_roots) are recorded, decided in the kernel so host
 * processes pay one hash lookup per syscall: the verdict for each cgroup is
 * computed once (walking its ancestors) and cached in cgroup_verdicts
 * (pod_roots.bpf.h, shared with the flows probe).
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
KP_DEFINE_POD_VERDICT(verdict_for, void *unused, bpf_get_current_ancestor_cgroup_id(level))

static __always_inline void record(long id)
{
	__u64 cgid = bpf_get_current_cgroup_id();
	struct kp_syscall_bits *bits, empty = {};

	if (id < 0 || id >= KP_SYSCALL_WORDS * 64)
		return;
	if (!verdict_for(NULL, cgid))
		return;
	bits = bpf_map_lookup_elem(&syscall_bits, &cgid);
	if (!bits) {
		bpf_map_update_elem(&syscall_bits, &cgid, &empty, BPF_NOEXIST);
		bits = bpf_map_lookup_elem(&syscall_bits, &cgid);
		if (!bits)
			return;
	}
	__u32 word = (__u32)id / 64;
	__u64 mask = 1ULL << ((__u32)id % 64);

	if (word < KP_SYSCALL_WORDS && !(bits->words[word] & mask))
		__sync_fetch_and_or(&bits->words[word], mask);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(kp_sys_enter_btf, struct pt_regs *regs, long id)
{
	record(id);
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int kp_sys_enter_raw(struct bpf_raw_tracepoint_args *ctx)
{
	record((long)ctx->args[1]);
	return 0;
}
