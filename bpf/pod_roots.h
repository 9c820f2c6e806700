/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pod roots: the kubepods cgroups below which the flows and syscalls probes
 * record (src/probes/pod-roots.ts finds them and fills watched_roots).
 */
#ifndef KUBEPULSE_POD_ROOTS_H
#define KUBEPULSE_POD_ROOTS_H

/* Entries of watched_roots (MAX_WATCHED_ROOTS in src/probes/pod-roots.ts). */
#define KP_MAX_WATCHED_ROOTS 8
/* The deepest level the kernel can look at; max_root_level is at most this. */
#define KP_ROOT_LEVEL_LIMIT 6

#endif
