/* SPDX-License-Identifier: Apache-2.0 */
/* Pieces every KubePulse BPF program shares: the ring buffer it reports
 * through and the per-CPU counter of records it could not report. */
#ifndef KUBEPULSE_COMMON_BPF_H
#define KUBEPULSE_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "events.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* Size is set by user space (--ring-buffer-bytes) before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

/* Index 0: records lost because the ring buffer was full. Per CPU so that
 * counting a loss never contends; user space sums the CPUs at scrape. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} dropped SEC(".maps");

static __always_inline void count_drop(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&dropped, &zero);

	if (n)
		*n += 1;
}

#endif
