// SPDX-License-Identifier: GPL-2.0
/*
 * Syscalls probe: which syscalls each container makes, as a bitmap per
 * cgroup, for seccomp profiles.
 *
 * Only cgroups below a "pod root" (the kubepods cgroup, registered by user
 * space in watched_roots) are recorded, decided in the kernel so host
 * processes pay one hash lookup per syscall: the verdict for each cgroup is
 * computed once (walking its ancestors) and cached in cgroup_verdicts.
 * Because the test is by ancestry, a container's cgroup is recorded from its
 * very first syscall -- including the runtime's own (runc init) between
 * joining the cgroup and exec'ing the workload.
 */
#include "common.bpf.h"
#include "syscalls.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space: the deepest level at which pod roots are looked for. */
const volatile __u32 max_root_level = 4;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KP_MAX_WATCHED_ROOTS);
	__type(key, __u64); /* cgroup id of a pod root */
	__type(value, __u32); /* its level (depth below the cgroup v2 root) */
} watched_roots SEC(".maps");

/* cgroup id -> 1 recorded, 0 not; LRU, recomputed if evicted. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} cgroup_verdicts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct kp_syscall_bits);
} syscall_bits SEC(".maps");

static __always_inline __u8 verdict_for(__u64 cgid)
{
	__u8 *cached = bpf_map_lookup_elem(&cgroup_verdicts, &cgid);
	__u8 verdict = 0;

	if (cached)
		return *cached;
#pragma unroll
	for (int level = 1; level <= 6; level++) {
		if (level > max_root_level)
			break;
		__u64 ancestor = bpf_get_current_ancestor_cgroup_id(level);
		__u32 *root_level = bpf_map_lookup_elem(&watched_roots, &ancestor);

		/* Strictly below the root: the kubepods cgroup itself is not a container. */
		if (root_level && *root_level == level && ancestor != cgid) {
			verdict = 1;
			break;
		}
	}
	bpf_map_update_elem(&cgroup_verdicts, &cgid, &verdict, BPF_ANY);
	return verdict;
}

static __always_inline void record(long id)
{
	__u64 cgid = bpf_get_current_cgroup_id();
	struct kp_syscall_bits *bits, empty = {};

	if (id < 0 || id >= KP_SYSCALL_WORDS * 64)
		return;
	if (!verdict_for(cgid))
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
