// tcp-storm: a TCP connect/accept/close storm on loopback, for the KubePulse benchmark.
//
// One process: a listener on 127.0.0.1 with accept threads that accept and close at once, and
// client threads that connect, wait for the handshake (blocking connect) and close. Each
// client connection is closed with SO_LINGER {1, 0}, so the close sends RST and neither side
// keeps a TIME_WAIT socket: the ephemeral port range (28k ports by default) is never
// exhausted, whatever the rate and duration. The storm is bounded twice: by --duration and by
// --max-conns; it always stops by itself.
//
// Pacing: each client thread owns rate/threads of the target rate and runs a 1 ms token
// schedule (connect until it has made rate*elapsed connections, then sleep until the next
// millisecond), so a fixed rate holds without sleeping per connection. --rate 0 means as fast
// as it can go.
//
// Output: one JSON object on stdout (achieved rate, errors by errno, connect() latency
// percentiles, the process's CPU time per connection).
//
// Build: cc -O2 -pthread -o tcp-storm tcp-storm.c
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
/* Nanoseconds in log2 octaves, each cut into 16 linear steps: a quantile is
 * known to within 1/16 of its octave (6 %), fine enough for a p99 ratio. */
#define LAT_SUB 16
#define LAT_BUCKETS (64 * LAT_SUB)
#define MAX_ERRNO 256

static double opt_rate = 10000;     /* connections per second, 0 = max */
static double opt_duration = 3.0;   /* seconds */
static long opt_max_conns = 10000000;
static int opt_threads = 2;
static int opt_accept_threads = 1;
static int opt_port = 0;            /* 0 = an ephemeral port chosen by the kernel */
static const char *opt_label = "";

static int listen_fd = -1;
static struct sockaddr_in server_addr;
static atomic_int stop_accepting;
static atomic_long accepted;
static atomic_long conns_started;   /* shared budget for --max-conns */

struct client_stats {
  long ok;
  long errors[MAX_ERRNO];
  uint64_t lat_hist[LAT_BUCKETS];
  double lat_sum_ns;
};

static struct client_stats stats[MAX_THREADS];

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [--rate N (conn/s, 0 = max)] [--duration S] [--max-conns N]\n"
          "          [--threads N] [--accept-threads N] [--port P] [--label TEXT]\n",
          argv0);
  exit(2);
}

static void *accept_loop(void *arg) {
  (void)arg;
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
      if (atomic_load(&stop_accepting)) break;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        usleep(1000);
        continue;
      }
      break; /* EINVAL after shutdown() */
    }
    atomic_fetch_add_explicit(&accepted, 1, memory_order_relaxed);
    close(fd);
  }
  return NULL;
}

static int lat_bucket(uint64_t ns) {
  if (ns < LAT_SUB) return (int)ns; /* octaves 0-3 hold fewer than 16 values: one bucket per ns */
  int octave = 63 - __builtin_clzll(ns);
  return octave * LAT_SUB + (int)((ns >> (octave - 4)) & (LAT_SUB - 1));
}

/* The largest value in bucket b, in ns. */
static double lat_upper(int b) {
  if (b < LAT_SUB) return b;
  int octave = b / LAT_SUB, step = b % LAT_SUB;
  return (double)(((uint64_t)(LAT_SUB + step + 1) << (octave - 4)) - 1);
}

static int one_connection(struct client_stats *st) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  uint64_t t0 = now_ns();
  int rc = connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr);
  uint64_t dt = now_ns() - t0;
  int err = rc == 0 ? 0 : errno;
  if (rc == 0) {
    st->lat_sum_ns += (double)dt;
    st->lat_hist[lat_bucket(dt)]++;
  }
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
  return err;
}

struct client_arg {
  int idx;
  double rate; /* this thread's share; 0 = unpaced */
  uint64_t start_ns, end_ns;
};

static void *client_loop(void *p) {
  struct client_arg *a = p;
  struct client_stats *st = &stats[a->idx];
  long made = 0;
  for (;;) {
    uint64_t t = now_ns();
    if (t >= a->end_ns) break;
    if (a->rate > 0) {
      double due = a->rate * (double)(t - a->start_ns) / 1e9;
      if ((double)made >= due) {
        /* ahead of schedule: sleep to the next millisecond tick */
        struct timespec ts = {0, 1000000 - (long)(t % 1000000)};
        nanosleep(&ts, NULL);
        continue;
      }
    }
    if (atomic_fetch_add_explicit(&conns_started, 1, memory_order_relaxed) >= opt_max_conns) break;
    made++;
    int err = one_connection(st);
    if (err == 0)
      st->ok++;
    else
      st->errors[err < MAX_ERRNO ? err : 0]++;
  }
  return NULL;
}

static double hist_quantile(const uint64_t *h, uint64_t total, double q) {
  if (!total) return 0;
  uint64_t want = (uint64_t)(q * (double)total), seen = 0;
  for (int b = 0; b < LAT_BUCKETS; b++) {
    seen += h[b];
    if (seen > want) return lat_upper(b) / 1000.0; /* upper bound of the bucket, in µs */
  }
  return 0;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i];
    if (i + 1 >= argc) usage(argv[0]);
    const char *v = argv[++i];
    if (!strcmp(k, "--rate")) opt_rate = atof(v);
    else if (!strcmp(k, "--duration")) opt_duration = atof(v);
    else if (!strcmp(k, "--max-conns")) opt_max_conns = atol(v);
    else if (!strcmp(k, "--threads")) opt_threads = atoi(v);
    else if (!strcmp(k, "--accept-threads")) opt_accept_threads = atoi(v);
    else if (!strcmp(k, "--port")) opt_port = atoi(v);
    else if (!strcmp(k, "--label")) opt_label = v;
    else usage(argv[0]);
  }
  if (opt_threads < 1 || opt_threads > MAX_THREADS || opt_accept_threads < 1 ||
      opt_accept_threads > MAX_THREADS || opt_duration <= 0 || opt_duration > 7200 ||
      opt_rate < 0 || opt_max_conns < 1) {
    fprintf(stderr, "tcp-storm: bad arguments (threads 1..%d, duration 0..7200 s, rate >= 0)\n",
            MAX_THREADS);
    return 2;
  }

  listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  memset(&server_addr, 0, sizeof server_addr);
  server_addr.sin_family = AF_INET;
  server_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  server_addr.sin_port = htons((uint16_t)opt_port);
  if (bind(listen_fd, (struct sockaddr *)&server_addr, sizeof server_addr) < 0 ||
      listen(listen_fd, 4096) < 0) {
    fprintf(stderr, "tcp-storm: cannot listen on 127.0.0.1:%d: %s\n", opt_port, strerror(errno));
    return 1;
  }
  socklen_t alen = sizeof server_addr;
  getsockname(listen_fd, (struct sockaddr *)&server_addr, &alen);

  pthread_t acc[MAX_THREADS], cli[MAX_THREADS];
  struct client_arg args[MAX_THREADS];
  for (int i = 0; i < opt_accept_threads; i++) pthread_create(&acc[i], NULL, accept_loop, NULL);

  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  uint64_t start = now_ns();
  uint64_t end = start + (uint64_t)(opt_duration * 1e9);
  for (int i = 0; i < opt_threads; i++) {
    args[i] = (struct client_arg){i, opt_rate / opt_threads, start, end};
    pthread_create(&cli[i], NULL, client_loop, &args[i]);
  }
  for (int i = 0; i < opt_threads; i++) pthread_join(cli[i], NULL);
  double elapsed = (double)(now_ns() - start) / 1e9;
  getrusage(RUSAGE_SELF, &ru1);

  /* let the accept threads drain the queue, then stop them */
  usleep(20000);
  atomic_store(&stop_accepting, 1);
  shutdown(listen_fd, SHUT_RDWR);
  for (int i = 0; i < opt_accept_threads; i++) pthread_join(acc[i], NULL);
  close(listen_fd);

  long ok = 0, errs[MAX_ERRNO] = {0}, nerr = 0;
  uint64_t hist[LAT_BUCKETS] = {0};
  double lat_sum = 0;
  for (int i = 0; i < opt_threads; i++) {
    ok += stats[i].ok;
    lat_sum += stats[i].lat_sum_ns;
    for (int e = 0; e < MAX_ERRNO; e++) errs[e] += stats[i].errors[e], nerr += stats[i].errors[e];
    for (int b = 0; b < LAT_BUCKETS; b++) hist[b] += stats[i].lat_hist[b];
  }
  double user = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6;
  double sys = (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
               (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;

  printf("{\"tool\":\"tcp-storm\",\"label\":\"%s\",\"target_rate\":%.0f,\"threads\":%d,"
         "\"duration_s\":%.3f,\"connections\":%ld,\"accepted\":%ld,\"achieved_rate\":%.1f,"
         "\"errors_total\":%ld,\"errors\":{",
         opt_label, opt_rate, opt_threads, elapsed, ok, atomic_load(&accepted), ok / elapsed, nerr);
  int first = 1;
  for (int e = 0; e < MAX_ERRNO; e++) {
    if (!errs[e]) continue;
    printf("%s\"%s\":%ld", first ? "" : ",", e ? strerrorname_np(e) : "other", errs[e]);
    first = 0;
  }
  printf("},\"connect_us\":{\"mean\":%.2f,\"p50\":%.2f,\"p99\":%.2f},"
         "\"cpu_s\":{\"user\":%.3f,\"sys\":%.3f},\"cpu_us_per_conn\":%.3f}\n",
         ok ? lat_sum / ok / 1000.0 : 0, hist_quantile(hist, ok, 0.5), hist_quantile(hist, ok, 0.99),
         user, sys, ok ? (user + sys) * 1e6 / ok : 0);
  return nerr && !ok ? 1 : 0;
}
