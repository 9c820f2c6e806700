// SPDX-License-Identifier: GPL-2.0
/*
 * Cgroup births (bpf/cgroups.h): on every cgroup v2 mkdir, remember the new
 * cgroup's path under its id. Nothing runs per network or syscall event; the
 * cost is one map update per mkdir, which is rare (a container start makes
 * one or two).
 *
 * The cgroup_mkdir tracepoint hands over the path the kernel formatted for
 * it (relative to the hierarchy's root, as /proc/<pid>/cgroup shows it to a
 * process in the root cgroup namespace). Both wrappers call one handler.
 */
#include "common.bpf.h"
#include "cgroups.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KP_CGROUP_BIRTHS);
	__type(key, __u64); /* cgroup id: the directory's inode number */
	__type(value, struct kp_cgroup_birth);
} cgroup_births SEC(".maps");

/* The value is too big for the BPF stack; one scratch slot per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kp_cgroup_birth);
} birth_scratch SEC(".maps");

static __always_inline int kp_cgroup_born(struct cgroup *cgrp, const char *path)
{
	struct kp_cgroup_birth *birth;
	__u32 zero = 0;
	__u64 id;
	long n;

	/* Only the unified (v2) hierarchy, whose id 0 is what events carry;
	 * v1 hierarchies of a hybrid system fire this tracepoint too. */
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return 0;
	birth = bpf_map_lookup_elem(&birth_scratch, &zero);
	if (!birth)
		return 0;
	id = BPF_CORE_READ(cgrp, kn, id);
	n = bpf_probe_read_kernel_str(birth->path, sizeof(birth->path), path);
	if (n <= 0)
		return 0;
	birth->path_len = n - 1;
	birth->truncated = n >= (long)sizeof(birth->path);
	bpf_map_update_elem(&cgroup_births, &id, birth, BPF_ANY);
	return 0;
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(kp_cgroup_mkdir_btf, struct cgroup *cgrp, const char *path)
{
	return kp_cgroup_born(cgrp, path);
}

SEC("raw_tp/cgroup_mkdir")
int BPF_PROG(kp_cgroup_mkdir_raw, struct cgroup *cgrp, const char *path)
{
	return kp_cgroup_born(cgrp, path);
}
