/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cgroup births: the kernel tells user space the path of every cgroup v2
 * directory created since load, keyed by its cgroup id, so that the first
 * event of a brand-new container resolves exactly -- even when the container
 * has exited and its cgroup is gone by the time the event is decoded
 * (src/metadata/cgroup-births.ts reads it on a resolver miss only).
 */
#ifndef KUBEPULSE_CGROUPS_H
#define KUBEPULSE_CGROUPS_H

/* Bytes of path kept; kubelet paths are ~180, nested kubelets (kind) more. */
#define KP_CGROUP_PATH_MAX 512
/* Entries of cgroup_births (LRU: the oldest births go first). */
#define KP_CGROUP_BIRTHS 8192

struct kp_cgroup_birth {
	__u32 path_len;  /* bytes of path, without the NUL */
	__u32 truncated; /* 1: the path was longer than KP_CGROUP_PATH_MAX - 1 */
	char path[KP_CGROUP_PATH_MAX]; /* relative to the cgroup v2 root, leading '/' */
};

#endif
