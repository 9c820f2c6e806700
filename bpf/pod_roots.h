/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pod roots: the kubepods cgroups below which the flows and syscalls probes
 * record (src/probes/pod-roots.ts finds them and writes the pod_roots map).
 */
#ifndef KUBEPULSE_POD_ROOTS_H
#define KUBEPULSE_POD_ROOTS_H

/* Roots the kernel looks at (MAX_WATCHED_ROOTS in src/probes/pod-roots.ts). */
#define KP_MAX_WATCHED_ROOTS 8

/* The one value of the pod_roots array map. Slots are filled from the
 * first; an id of 0 ends the list. */
struct kp_pod_roots {
	__u64 id[KP_MAX_WATCHED_ROOTS];    /* cgroup id (inode) of a kubepods cgroup */
	__u32 level[KP_MAX_WATCHED_ROOTS]; /* its depth below the cgroup v2 root */
};

#endif
