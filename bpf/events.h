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

/* The first field of every event: lets one poller carry several probes. */
struct kp_event_header {
	__u32 type;
	__u32 size; /* bytes of the whole record, header included */
};

#endif
