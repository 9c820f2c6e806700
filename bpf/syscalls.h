/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The syscalls probe keeps, per container cgroup, a bitmap of the syscall
 * numbers it has made. User space reads it to export seccomp profiles.
 */
#ifndef KUBEPULSE_SYSCALLS_H
#define KUBEPULSE_SYSCALLS_H

#include "pod_roots.h"

/* 512 syscall numbers: x86_64 uses < 470, arm64 < 470. */
#define KP_SYSCALL_WORDS 8

struct kp_syscall_bits {
	__u64 words[KP_SYSCALL_WORDS];
};

#endif
