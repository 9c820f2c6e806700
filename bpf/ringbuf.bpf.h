/* SPDX-License-Identifier: Apache-2.0 */
/* For probes that report events: the ring buffer they report through and
 * the per-CPU counter of records they could not report. (Probes that only
 * count in maps -- flows, syscalls -- do without, and without its memory.) */
#ifndef KUBEPULSE_RINGBUF_BPF_H
#define KUBEPULSE_RINGBUF_BPF_H

#include "common.bpf.h"
#include "events.h"

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
