/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Is this cgroup a pod's? Shared by the probes that record pods only
 * (flows, syscalls), so that host processes cost them one lookup.
 *
 * User space registers the pod roots (kubepods cgroups) with their level in
 * watched_roots. A cgroup is a pod's when it is strictly below one of them
 * (the kubepods cgroup itself is not a container); the answer is computed
 * once per cgroup, walking its ancestors, and cached in cgroup_verdicts.
 * User space deletes the cached "no" answers when it registers a root, so a
 * cgroup seen before its root was known is looked at again.
 *
 * Each program includes this once; each object has its own maps.
 */
#ifndef KUBEPULSE_POD_ROOTS_BPF_H
#define KUBEPULSE_POD_ROOTS_BPF_H

#include "pod_roots.h"

/* Set by user space before load: the deepest level pod roots are looked for at. */
const volatile __u32 max_root_level = 4;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KP_MAX_WATCHED_ROOTS);
	__type(key, __u64);   /* cgroup id of a pod root */
	__type(value, __u32); /* its level (depth below the cgroup v2 root) */
} watched_roots SEC(".maps");

/* cgroup id -> 1 a pod's, 0 not; LRU, recomputed if evicted. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} cgroup_verdicts SEC(".maps");

/* Is ancestor, at level, a watched root strictly above cgid? */
static __always_inline bool kp_root_at(__u64 ancestor, int level, __u64 cgid)
{
	__u32 *root_level;

	if (ancestor == 0 || ancestor == cgid)
		return false;
	root_level = bpf_map_lookup_elem(&watched_roots, &ancestor);
	return root_level && *root_level == level;
}

/*
 * Defines `static __u8 name(ctx_param, __u64 cgid)`: 1 if cgid is a pod's
 * cgroup, else 0, cached. ancestor_at is an expression of `level` (and the
 * context parameter) giving the id of cgid's ancestor at that level -- the
 * helper differs by program type: bpf_get_current_ancestor_cgroup_id for
 * tracing, bpf_skb_ancestor_cgroup_id for cgroup_skb, where the current task
 * is not the socket's owner.
 */
#define KP_DEFINE_POD_VERDICT(name, ctx_param, ancestor_at)                        \
	static __always_inline __u8 name(ctx_param, __u64 cgid)                    \
	{                                                                          \
		__u8 *cached = bpf_map_lookup_elem(&cgroup_verdicts, &cgid);       \
		__u8 verdict = 0;                                                  \
                                                                                   \
		if (cached)                                                        \
			return *cached;                                            \
		_Pragma("unroll")                                                  \
		for (int level = 1; level <= KP_ROOT_LEVEL_LIMIT; level++) {       \
			if (level > max_root_level)                                \
				break;                                             \
			if (kp_root_at((ancestor_at), level, cgid)) {              \
				verdict = 1;                                       \
				break;                                             \
			}                                                          \
		}                                                                  \
		bpf_map_update_elem(&cgroup_verdicts, &cgid, &verdict, BPF_ANY);   \
		return verdict;                                                    \
	}

#endif
