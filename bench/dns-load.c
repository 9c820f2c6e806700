// dns-load: UDP DNS queries at a fixed rate against a DNS server on loopback, for the KubePulse
// benchmark. Also a tiny responder (--serve) for runs without dnsmasq.
//
// Client (default): --sockets UDP sockets (distinct source ports), one thread. Queries cycle
// through --names names "h<i>.<domain>" over --domains registered domains
// (d<j>.bench-kubepulse.com), type A. Pacing is a 1 ms token schedule (send until
// rate*elapsed queries have gone out, then wait for answers until the next tick), so the rate
// holds without a timer per query; --rate 0 means as fast as the server answers with
// --window queries in flight per socket. Answers are matched by (socket, transaction id);
// latency is query → answer. After --duration the client waits --grace seconds for late
// answers, then counts the rest as unanswered. Bounded by --duration and --max-queries.
//
// Responder (--serve): answers every query on 127.0.0.1:--port with NOERROR and one A record
// 127.0.0.1, or NXDOMAIN for names whose first label starts with "nx"; runs for --duration.
//
// Output: one JSON object on stdout.
// Build: cc -O2 -o dns-load dns-load.c
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOCKETS 64
#define LAT_BUCKETS 64
#define BATCH 64

static double opt_rate = 10000;
static double opt_duration = 3.0;
static double opt_grace = 0.5;
static long opt_max_queries = 10000000;
static int opt_port = 15353;
static const char *opt_server = "127.0.0.1";
static int opt_sockets = 4;
static int opt_names = 100;
static int opt_domains = 5;
static int opt_window = 64;
static int opt_serve = 0;
static const char *opt_label = "";
static long opt_nx_every = 0; /* every Nth query asks for an "nx" name (NXDOMAIN from --serve); 0 = none */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [--server IP] [--port P] [--rate N (q/s, 0 = max)] [--duration S]\n"
          "          [--grace S] [--max-queries N] [--sockets N] [--names N] [--domains N]\n"
          "          [--window N] [--label TEXT] [--nx-every N (every Nth name fails: NXDOMAIN)]\n"
          "       %s --serve 1 [--port P] [--duration S]\n",
          argv0, argv0);
  exit(2);
}

/* Writes a type-A query for name index i into buf; returns its length. */
static int build_query(uint8_t *buf, uint16_t id, int i, int nx) {
  char host[32], dom[32];
  snprintf(host, sizeof host, nx ? "nx%d" : "h%d", i);
  snprintf(dom, sizeof dom, "d%d", i % opt_domains);
  const char *labels[] = {host, dom, "bench-kubepulse", "com"};
  uint8_t *p = buf;
  *p++ = id >> 8, *p++ = id & 0xff;
  *p++ = 0x01, *p++ = 0x00; /* RD */
  *p++ = 0, *p++ = 1;       /* QDCOUNT */
  memset(p, 0, 6), p += 6;
  for (int l = 0; l < 4; l++) {
    size_t n = strlen(labels[l]);
    *p++ = (uint8_t)n;
    memcpy(p, labels[l], n), p += n;
  }
  *p++ = 0;
  *p++ = 0, *p++ = 1; /* QTYPE A */
  *p++ = 0, *p++ = 1; /* QCLASS IN */
  return (int)(p - buf);
}

static int serve(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt_port)};
  inet_pton(AF_INET, opt_server, &sa.sin_addr);
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    fprintf(stderr, "dns-load: cannot bind %s:%d: %s\n", opt_server, opt_port, strerror(errno));
    return 1;
  }
  uint8_t bufs[BATCH][512];
  struct sockaddr_in peers[BATCH];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  long answered = 0, malformed = 0;
  uint64_t end = now_ns() + (uint64_t)(opt_duration * 1e9);
  while (now_ns() < end) {
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, 100) <= 0) continue;
    for (int i = 0; i < BATCH; i++) {
      iov[i] = (struct iovec){bufs[i], 512 - 16};
      msgs[i].msg_hdr = (struct msghdr){.msg_name = &peers[i], .msg_namelen = sizeof peers[i],
                                        .msg_iov = &iov[i], .msg_iovlen = 1};
    }
    int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) continue;
    int out = 0;
    for (int i = 0; i < n; i++) {
      uint8_t *q = bufs[i];
      size_t len = msgs[i].msg_len, off = 12;
      while (off < len && q[off] && q[off] < 64) off += q[off] + 1;
      if (len < 12 || off + 5 > len || q[off] != 0) {
        malformed++;
        continue;
      }
      off += 5; /* root label, QTYPE, QCLASS */
      int nx = len > 14 && q[13] == 'n' && q[14] == 'x';
      q[2] = 0x81, q[3] = nx ? 0x83 : 0x80; /* QR RD RA, rcode */
      q[4] = 0, q[5] = 1, q[6] = 0, q[7] = nx ? 0 : 1;
      memset(q + 8, 0, 4);
      size_t alen = off;
      if (!nx) {
        static const uint8_t rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1};
        memcpy(q + off, rr, sizeof rr);
        alen += sizeof rr;
      }
      iov[i].iov_len = alen;
      if (out != i) msgs[out] = msgs[i];
      msgs[out].msg_hdr.msg_iov = &iov[i];
      out++;
    }
    int sent = 0;
    while (sent < out) {
      int r = sendmmsg(fd, msgs + sent, (unsigned)(out - sent), 0);
      if (r <= 0) break;
      sent += r;
    }
    answered += sent;
  }
  printf("{\"tool\":\"dns-load\",\"mode\":\"serve\",\"answered\":%ld,\"malformed\":%ld}\n", answered,
         malformed);
  return 0;
}

static uint64_t sent_at[MAX_SOCKETS][65536]; /* 0 = no query outstanding */

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i];
    if (i + 1 >= argc) usage(argv[0]);
    const char *v = argv[++i];
    if (!strcmp(k, "--rate")) opt_rate = atof(v);
    else if (!strcmp(k, "--duration")) opt_duration = atof(v);
    else if (!strcmp(k, "--grace")) opt_grace = atof(v);
    else if (!strcmp(k, "--max-queries")) opt_max_queries = atol(v);
    else if (!strcmp(k, "--port")) opt_port = atoi(v);
    else if (!strcmp(k, "--server")) opt_server = v;
    else if (!strcmp(k, "--sockets")) opt_sockets = atoi(v);
    else if (!strcmp(k, "--names")) opt_names = atoi(v);
    else if (!strcmp(k, "--domains")) opt_domains = atoi(v);
    else if (!strcmp(k, "--window")) opt_window = atoi(v);
    else if (!strcmp(k, "--serve")) opt_serve = atoi(v);
    else if (!strcmp(k, "--label")) opt_label = v;
    else if (!strcmp(k, "--nx-every")) opt_nx_every = atol(v);
    else usage(argv[0]);
  }
  if (opt_nx_every < 0 || opt_sockets < 1 || opt_sockets > MAX_SOCKETS || opt_duration <= 0 || opt_duration > 7200 ||
      opt_grace < 0 || opt_grace > 30 || opt_rate < 0 || opt_names < 1 || opt_domains < 1 ||
      opt_window < 1 || opt_window > 60000 || opt_max_queries < 1) {
    fprintf(stderr, "dns-load: bad arguments\n");
    return 2;
  }
  if (opt_serve) return serve();

  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt_port)};
  if (inet_pton(AF_INET, opt_server, &sa.sin_addr) != 1) {
    fprintf(stderr, "dns-load: --server must be an IPv4 address\n");
    return 2;
  }
  int fds[MAX_SOCKETS];
  struct pollfd pfds[MAX_SOCKETS];
  for (int s = 0; s < opt_sockets; s++) {
    fds[s] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int big = 4 << 20;
    setsockopt(fds[s], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    if (connect(fds[s], (struct sockaddr *)&sa, sizeof sa) < 0) {
      fprintf(stderr, "dns-load: connect: %s\n", strerror(errno));
      return 1;
    }
    pfds[s] = (struct pollfd){fds[s], POLLIN, 0};
  }

  long sent = 0, answered = 0, send_errors = 0, late_or_unknown = 0, rcodes[16] = {0};
  long inflight[MAX_SOCKETS] = {0};
  uint16_t next_id[MAX_SOCKETS];
  for (int s = 0; s < opt_sockets; s++) next_id[s] = (uint16_t)(s * 7919);
  uint64_t hist[LAT_BUCKETS] = {0};
  double lat_sum = 0;
  uint8_t qbuf[512], rbuf[BATCH][512];
  struct iovec riov[BATCH];
  struct mmsghdr rmsgs[BATCH];

  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  uint64_t start = now_ns(), end = start + (uint64_t)(opt_duration * 1e9);
  uint64_t hard_end = end + (uint64_t)(opt_grace * 1e9);
  int cur = 0;
  for (;;) {
    uint64_t t = now_ns();
    int sending = t < end && sent < opt_max_queries;
    if (!sending) {
      long out = 0;
      for (int s = 0; s < opt_sockets; s++) out += inflight[s];
      if (!out || t >= hard_end) break;
    }
    /* send what the schedule allows */
    long due = opt_rate > 0 ? (long)(opt_rate * (double)(t - start) / 1e9) + 1 : sent + BATCH;
    int burst = 0;
    while (sending && sent < due && sent < opt_max_queries && burst < BATCH) {
      int s = cur;
      cur = (cur + 1) % opt_sockets;
      if (opt_rate == 0 && inflight[s] >= opt_window) break;
      uint16_t id = next_id[s]++;
      if (sent_at[s][id]) { /* id still outstanding after a full wrap: treat as lost */
        sent_at[s][id] = 0;
        inflight[s]--;
      }
      int len = build_query(qbuf, id, (int)(sent % opt_names), opt_nx_every > 0 && sent % opt_nx_every == opt_nx_every - 1);
      uint64_t ts = now_ns();
      if (send(fds[s], qbuf, (size_t)len, 0) < 0) {
        send_errors++;
        if (errno == EAGAIN || errno == ENOBUFS) break;
        continue;
      }
      sent_at[s][id] = ts;
      inflight[s]++;
      sent++;
      burst++;
    }
    /* collect answers until the next millisecond tick */
    int timeout_ms = 1;
    if (opt_rate == 0 && sending && burst == BATCH) timeout_ms = 0;
    if (poll(pfds, (nfds_t)opt_sockets, timeout_ms) <= 0) continue;
    for (int s = 0; s < opt_sockets; s++) {
      if (!(pfds[s].revents & POLLIN)) continue;
      for (int i = 0; i < BATCH; i++) {
        riov[i] = (struct iovec){rbuf[i], sizeof rbuf[i]};
        rmsgs[i].msg_hdr = (struct msghdr){.msg_iov = &riov[i], .msg_iovlen = 1};
      }
      int n = recvmmsg(fds[s], rmsgs, BATCH, MSG_DONTWAIT, NULL);
      uint64_t tr = now_ns();
      for (int i = 0; i < n; i++) {
        if (rmsgs[i].msg_len < 12) {
          late_or_unknown++;
          continue;
        }
        uint16_t id = (uint16_t)(rbuf[i][0] << 8 | rbuf[i][1]);
        if (!sent_at[s][id]) {
          late_or_unknown++;
          continue;
        }
        uint64_t dt = tr - sent_at[s][id];
        sent_at[s][id] = 0;
        inflight[s]--;
        answered++;
        rcodes[rbuf[i][3] & 0x0f]++;
        lat_sum += (double)dt;
        hist[dt ? 63 - __builtin_clzll(dt) : 0]++;
      }
    }
  }
  double elapsed = (double)(now_ns() - start) / 1e9;
  double send_window = elapsed < opt_duration ? elapsed : opt_duration;
  getrusage(RUSAGE_SELF, &ru1);
  double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec -
                        ru0.ru_stime.tv_sec) +
               (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec -
                        ru0.ru_stime.tv_usec) / 1e6;
  long unanswered = 0;
  for (int s = 0; s < opt_sockets; s++) unanswered += inflight[s];

  double q[3] = {0.5, 0.99, 0};
  double pct[2] = {0, 0};
  for (int k = 0; k < 2; k++) {
    uint64_t want = (uint64_t)(q[k] * (double)answered), seen = 0;
    for (int b = 0; b < LAT_BUCKETS && answered; b++) {
      seen += hist[b];
      if (seen > want) {
        pct[k] = (double)(2ull << b) / 1000.0;
        break;
      }
    }
  }
  static const char *rcode_names[16] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                        "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                        "NXRRSET", "NOTAUTH", "NOTZONE"};
  printf("{\"tool\":\"dns-load\",\"label\":\"%s\",\"target_rate\":%.0f,\"duration_s\":%.3f,"
         "\"sent\":%ld,\"answered\":%ld,\"unanswered\":%ld,\"send_errors\":%ld,"
         "\"unmatched\":%ld,\"achieved_qps\":%.1f,\"answered_qps\":%.1f,\"rcodes\":{",
         opt_label, opt_rate, send_window, sent, answered, unanswered, send_errors,
         late_or_unknown, sent / send_window, answered / send_window);
  int first = 1;
  for (int r = 0; r < 16; r++) {
    if (!rcodes[r]) continue;
    if (rcode_names[r]) printf("%s\"%s\":%ld", first ? "" : ",", rcode_names[r], rcodes[r]);
    else printf("%s\"RCODE%d\":%ld", first ? "" : ",", r, rcodes[r]);
    first = 0;
  }
  printf("},\"latency_us\":{\"mean\":%.2f,\"p50\":%.2f,\"p99\":%.2f},\"cpu_s\":%.3f,"
         "\"cpu_us_per_query\":%.3f}\n",
         answered ? lat_sum / answered / 1000.0 : 0, pct[0], pct[1], cpu,
         sent ? cpu * 1e6 / sent : 0);
  return sent && !answered ? 1 : 0;
}
