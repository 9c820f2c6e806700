/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What every KubePulse ring-buffer record starts with. Included by the BPF
 * programs (with vmlinux.h types) and by the native addon (with
 * <linux/types.h>), so it uses only __u* types and includes nothing itself.
 */
#ifndef KUBEPULSE_EVENTS_H
#define KUBEPULSE_EVENTS_H

enum kp_event_type {
	KP_EVENT_TCP = 1,
	KP_EVENT_DNS = 2,
};

/* The first field of every event: lets one poller carry several probes.
 * Every event then has __u64 ts_ns (bytes 8-15) and __u64 cgroup_id (bytes
 * 16-23): user space holds a record of a pod it does not know yet with the
 * later records of its cgroup only (src/bpf/event-stream.ts). KP_EVENT_COMMON
 * checks a layout at compile time. */
struct kp_event_header {
	__u32 type;
	__u32 size; /* bytes of the whole record, header included */
};

#ifdef __cplusplus
#define KP_STATIC_ASSERT static_assert
#else
#define KP_STATIC_ASSERT _Static_assert
#endif
#define KP_EVENT_COMMON(type)                                                            \
	KP_STATIC_ASSERT(__builtin_offsetof(type, ts_ns) == 8, #type ": ts_ns at byte 8"); \
	KP_STATIC_ASSERT(__builtin_offsetof(type, cgroup_id) == 16, #type ": cgroup_id at byte 16")

#endif
