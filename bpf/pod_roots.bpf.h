/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Is this cgroup a pod's? Shared by the probes that record pods only
 * (flows, syscalls), which run for every packet or syscall of the node:
 * the answer for a host process must cost as little as possible.
 *
 * User space writes the pod roots (kubepods cgroups, with their level) into
 * the one value of an array map; the verifier inlines the lookup of an
 * array's fixed key, so reading it is a few instructions, not a helper
 * call. A cgroup is a pod's when its ancestor at a root's level is that
 * root and it lies strictly below it (the kubepods cgroup itself is not a
 * container): one ancestor-id helper per distinct root level (user space
 * writes the roots sorted by level, and roots at the level just looked at
 * reuse its answer), no hashing, nothing cached, so a root registered late
 * applies from the next packet on.
 *
 * Each program includes this once; each object has its own map.
 */
#ifndef KUBEPULSE_POD_ROOTS_BPF_H
#define KUBEPULSE_POD_ROOTS_BPF_H

#include "pod_roots.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kp_pod_roots);
} pod_roots SEC(".maps");

/*
 * Defines `static bool name(ctx_param)`: whether the cgroup is a pod's.
 * ancestor_at is an expression of `level` (and the context parameter)
 * giving the id of the cgroup's ancestor at that level, 0 above the
 * cgroup's own level -- the helper differs by program type:
 * bpf_get_current_ancestor_cgroup_id for tracing, bpf_skb_ancestor_cgroup_id
 * for cgroup_skb, where the current task is not the socket's owner.
 */
#define KP_DEFINE_POD_VERDICT(name, ctx_param, ancestor_at)                        \
	static __always_inline bool name(ctx_param)                                \
	{                                                                          \
		__u32 zero = 0;                                                    \
		const struct kp_pod_roots *roots = bpf_map_lookup_elem(&pod_roots, &zero); \
		__u64 ancestor = 0;                                                \
		int seen_level = -1;                                               \
                                                                                   \
		if (!roots)                                                        \
			return false;                                              \
		_Pragma("unroll")                                                  \
		for (int i = 0; i < KP_MAX_WATCHED_ROOTS; i++) {                   \
			__u64 root = roots->id[i];                                 \
			int level = roots->level[i];                               \
                                                                                   \
			if (root == 0)                                             \
				return false;                                      \
			if (level != seen_level) {                                 \
				ancestor = (ancestor_at);                          \
				seen_level = level;                                \
			}                                                          \
			if (ancestor == root) {                                    \
				level++; /* strictly below: an ancestor one deeper */ \
				return (ancestor_at) != 0;                         \
			}                                                          \
		}                                                                  \
		return false;                                                      \
	}

#endif
