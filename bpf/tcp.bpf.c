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
 *
 * Cost: the state hook fires ~7 times per connection, on both ends, for
 * every TCP socket of the node. Only three transitions matter (-> SYN_SENT,
 * SYN_SENT -> ESTABLISHED, -> CLOSE), so the state numbers, which the hook
 * hands over as arguments, are tested first, before anything is read from
 * the socket; in tp_btf the socket's fields are read directly (BTF-typed
 * pointer) rather than through bpf_probe_read_kernel.
 *
 * Connections in flight are kept in a hash keyed by the socket's address.
 * Socket-local storage (BPF_MAP_TYPE_SK_STORAGE, usable from tracing
 * programs since 5.11) was tried and measured slower on 6.x: 235 ns per hit
 * against 157 for the hash, both attached side by side to the same hits
 * (bench/program-ab.mjs) -- it allocates storage for every connecting
 * socket and frees it through RCU when the socket goes.
 */
#include "ringbuf.bpf.h"
#include "tcp.h"

#define ECONNRESET 104
#define ETIMEDOUT 110
#define ECONNREFUSED 111

char LICENSE[] SEC("license") = "GPL";

struct conn_start {
	__u64 start_ns; /* 0: no connect of ours in flight or open on this socket */
	__u64 cgroup_id;
	__u32 tgid;
	__u32 pid;
	__u8 established;
};

/* Outgoing connections in flight or open, by socket address. LRU so a
 * socket whose close we never see cannot leak an entry forever. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct conn_start);
} tcp_conns SEC(".maps");

/*
 * How a handler reads the socket: a compile-time constant in each wrapper,
 * so the branch not taken is dropped.
 */
enum access {
	PROBE_READ, /* kprobe, classic tracepoint: untyped pointer */
	DIRECT,     /* tp_btf: BTF-typed pointer, plain loads */
};

#define SK_FIELD(how, sk, field) ((how) == PROBE_READ ? BPF_CORE_READ(sk, field) : (sk)->field)

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
	bpf_map_update_elem(&tcp_conns, &key, &c, BPF_ANY);
}

/*
 * The peer's address into the event: read from the socket when the outcome
 * is emitted (a few loads, no map state kept per connection for it). With
 * the BTF-typed pointer each word is a plain load of an exact member; through
 * an untyped pointer one read takes all 16 bytes.
 */
static __always_inline void peer_address(enum access how, const struct sock *sk, __u16 family, __u8 *daddr)
{
	__u32 *w = (__u32 *)daddr;

	if (family == AF_INET) {
		w[0] = SK_FIELD(how, sk, __sk_common.skc_daddr);
		w[1] = 0;
		w[2] = 0;
		w[3] = 0;
	} else if (how == PROBE_READ) {
		if (bpf_core_read(daddr, 16, &sk->__sk_common.skc_v6_daddr))
			__builtin_memset(daddr, 0, 16);
	} else {
		w[0] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[0];
		w[1] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[1];
		w[2] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[2];
		w[3] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[3];
	}
}

static __always_inline void emit(enum access how, const struct conn_start *c, const struct sock *sk,
				 __u32 result, __u64 now)
{
	struct kp_tcp_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	__u16 family;

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
	family = SK_FIELD(how, sk, __sk_common.skc_family);
	e->family = family;
	e->dport = bpf_ntohs(SK_FIELD(how, sk, __sk_common.skc_dport));
	peer_address(how, sk, family, e->daddr);
	bpf_ringbuf_submit(e, 0);
}

static __always_inline __u32 close_result(enum access how, const struct sock *sk, bool established)
{
	int err = SK_FIELD(how, sk, sk_err);

	if (established)
		return err == ECONNRESET ? KP_TCP_RESET : KP_TCP_CLOSED;
	if (err == ECONNREFUSED)
		return KP_TCP_REFUSED;
	if (err == ETIMEDOUT)
		return KP_TCP_TIMEOUT;
	return KP_TCP_ERROR;
}

/* The only transitions the probe acts on; everything else returns here. */
static __always_inline bool wanted(int oldstate, int newstate, bool track_start)
{
	if (newstate == TCP_CLOSE)
		return true;
	if (newstate == TCP_ESTABLISHED)
		return oldstate == TCP_SYN_SENT;
	return track_start && newstate == TCP_SYN_SENT;
}

static __always_inline bool is_tcp_inet(enum access how, const struct sock *sk)
{
	__u16 family = SK_FIELD(how, sk, __sk_common.skc_family);

	return SK_FIELD(how, sk, sk_protocol) == IPPROTO_TCP && (family == AF_INET || family == AF_INET6);
}

/*
 * Runs on a wanted() transition of a TCP socket. track_start is false when
 * a kprobe on tcp_connect already recorded the start.
 */
static __always_inline void on_state_change(enum access how, const struct sock *sk, int newstate,
					    bool track_start)
{
	__u64 key = (__u64)sk;
	struct conn_start *c;
	__u64 now;

	if (newstate == TCP_SYN_SENT) {
		if (track_start)
			on_connect_start(sk);
		return;
	}
	c = bpf_map_lookup_elem(&tcp_conns, &key);
	if (!c)
		return; /* not an outgoing connection we saw start */

	now = bpf_ktime_get_ns();
	if (newstate == TCP_ESTABLISHED) {
		emit(how, c, sk, KP_TCP_ESTABLISHED, now);
		c->established = 1;
		return;
	}
	/* newstate == TCP_CLOSE */
	emit(how, c, sk, close_result(how, sk, c->established), now);
	bpf_map_delete_elem(&tcp_conns, &key);
}

/* --- kprobe set ---------------------------------------------------------- */

SEC("kprobe/tcp_connect")
int BPF_KPROBE(kp_tcp_connect, struct sock *sk)
{
	if (is_tcp_inet(PROBE_READ, sk))
		on_connect_start(sk);
	return 0;
}

SEC("kprobe/tcp_set_state")
int BPF_KPROBE(kp_tcp_set_state, struct sock *sk, int state)
{
	if (state != TCP_CLOSE && state != TCP_ESTABLISHED)
		return 0;
	if (!wanted(BPF_CORE_READ(sk, __sk_common.skc_state), state, false) || !is_tcp_inet(PROBE_READ, sk))
		return 0;
	on_state_change(PROBE_READ, sk, state, false);
	return 0;
}

/* --- BTF tracepoint ------------------------------------------------------ */

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(kp_tcp_state_btf, const struct sock *sk, int oldstate, int newstate)
{
	if (!wanted(oldstate, newstate, true) || !is_tcp_inet(DIRECT, sk))
		return 0;
	on_state_change(DIRECT, sk, newstate, true);
	return 0;
}

/* --- classic tracepoint -------------------------------------------------- */

SEC("tracepoint/sock/inet_sock_set_state")
int kp_tcp_state_tp(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (!wanted(ctx->oldstate, ctx->newstate, true) || ctx->protocol != IPPROTO_TCP ||
	    (ctx->family != AF_INET && ctx->family != AF_INET6))
		return 0;
	on_state_change(PROBE_READ, ctx->skaddr, ctx->newstate, true);
	return 0;
}
