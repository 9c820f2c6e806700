// SPDX-License-Identifier: GPL-2.0
/*
 * TCP probe: connect latency (SYN sent -> outcome), connection duration
 * (connect -> close) and the result of each outgoing connection.
 *
 * One pair of handlers does the work; thin wrappers attach it three ways,
 * and user space loads only the set the running kernel supports:
 *   kprobe      kprobe/tcp_connect (start) + kprobe/tcp_set_state (outcome, close)
 *   tp_btf      tp_btf/inet_sock_set_state (BTF-typed tracepoint)
 *   tracepoint  tracepoint/sock/inet_sock_set_state (classic tracepoint)
 * tcp_close alone (the design's first idea) misses connections the kernel
 * ends by itself (refused, timed out, reset), so the kprobe set follows
 * tcp_set_state, the function the tracepoint itself fires from.
 */
#include "ringbuf.bpf.h"
#include "tcp.h"

#define ECONNRESET 104
#define ETIMEDOUT 110
#define ECONNREFUSED 111

char LICENSE[] SEC("license") = "GPL";

struct conn_start {
	__u64 start_ns;
	__u64 cgroup_id;
	__u32 tgid;
	__u32 pid;
	__u8 established;
	char comm[KP_TASK_COMM_LEN];
};

/* Outgoing connections in flight or open, by socket address. LRU so a
 * socket whose close we never see cannot leak an entry forever. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct conn_start);
} tcp_conns SEC(".maps");

/* Called in the context of the task calling connect(). */
static __always_inline void on_connect_start(const struct sock *sk)
{
	struct conn_start c = {};
	__u64 id = bpf_get_current_pid_tgid();
	__u64 key = (__u64)sk;

	c.start_ns = bpf_ktime_get_ns();
	c.cgroup_id = bpf_get_current_cgroup_id();
	c.tgid = id >> 32;
	c.pid = (__u32)id;
	bpf_get_current_comm(&c.comm, sizeof(c.comm));
	bpf_map_update_elem(&tcp_conns, &key, &c, BPF_ANY);
}

static __always_inline void emit(const struct conn_start *c, const struct sock *sk,
				 __u32 result, __u64 now)
{
	struct kp_tcp_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_drop();
		return;
	}
	e->hdr.type = KP_EVENT_TCP;
	e->hdr.size = sizeof(*e);
	e->ts_ns = now;
	e->cgroup_id = c->cgroup_id;
	e->elapsed_ns = now - c->start_ns;
	e->tgid = c->tgid;
	e->pid = c->pid;
	e->result = result;
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	__builtin_memcpy(e->comm, c->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
}

static __always_inline __u32 failed_connect_result(const struct sock *sk)
{
	int err = BPF_CORE_READ(sk, sk_err);

	if (err == ECONNREFUSED)
		return KP_TCP_REFUSED;
	if (err == ETIMEDOUT)
		return KP_TCP_TIMEOUT;
	return KP_TCP_ERROR;
}

/*
 * Runs on every TCP state change. track_start is false when a kprobe on
 * tcp_connect already recorded the start (the SYN_SENT transition is then
 * ignored here).
 */
static __always_inline void on_state_change(const struct sock *sk, int oldstate,
					    int newstate, bool track_start)
{
	__u64 key = (__u64)sk;
	struct conn_start *c;
	__u64 now;

	if (newstate == TCP_SYN_SENT) {
		if (track_start)
			on_connect_start(sk);
		return;
	}
	if (newstate != TCP_ESTABLISHED && newstate != TCP_CLOSE)
		return;

	c = bpf_map_lookup_elem(&tcp_conns, &key);
	if (!c)
		return; /* not an outgoing connection we saw start */

	now = bpf_ktime_get_ns();
	if (newstate == TCP_ESTABLISHED) {
		if (oldstate != TCP_SYN_SENT)
			return;
		emit(c, sk, KP_TCP_ESTABLISHED, now);
		c->established = 1;
		return;
	}

	/* newstate == TCP_CLOSE */
	if (c->established)
		emit(c, sk, BPF_CORE_READ(sk, sk_err) == ECONNRESET ? KP_TCP_RESET : KP_TCP_CLOSED, now);
	else
		emit(c, sk, failed_connect_result(sk), now);
	bpf_map_delete_elem(&tcp_conns, &key);
}

static __always_inline bool is_tcp_inet(const struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	return BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP &&
	       (family == AF_INET || family == AF_INET6);
}

/* --- kprobe set ---------------------------------------------------------- */

SEC("kprobe/tcp_connect")
int BPF_KPROBE(kp_tcp_connect, struct sock *sk)
{
	if (is_tcp_inet(sk))
		on_connect_start(sk);
	return 0;
}

SEC("kprobe/tcp_set_state")
int BPF_KPROBE(kp_tcp_set_state, struct sock *sk, int state)
{
	if (is_tcp_inet(sk))
		on_state_change(sk, BPF_CORE_READ(sk, __sk_common.skc_state), state, false);
	return 0;
}

/* --- BTF tracepoint ------------------------------------------------------ */

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(kp_tcp_state_btf, const struct sock *sk, int oldstate, int newstate)
{
	if (is_tcp_inet(sk))
		on_state_change(sk, oldstate, newstate, true);
	return 0;
}

/* --- classic tracepoint -------------------------------------------------- */

SEC("tracepoint/sock/inet_sock_set_state")
int kp_tcp_state_tp(struct trace_event_raw_inet_sock_set_state *ctx)
{
	const struct sock *sk = ctx->skaddr;

	if (ctx->protocol != IPPROTO_TCP ||
	    (ctx->family != AF_INET && ctx->family != AF_INET6))
		return 0;
	on_state_change(sk, ctx->oldstate, ctx->newstate, true);
	return 0;
}
