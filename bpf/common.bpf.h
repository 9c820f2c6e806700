/* SPDX-License-Identifier: Apache-2.0 */
/* Includes and constants every KubePulse BPF program shares. */
#ifndef KUBEPULSE_COMMON_BPF_H
#define KUBEPULSE_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

#endif
