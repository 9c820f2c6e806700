// What one syscall costs: a tight loop of getppid() (raw syscall(2): glibc
// caches nothing for it, and the kernel does almost nothing), timed per round.
// With a sys_enter hook attached every task takes the syscall slow path, pod
// or not; this is the figure that shows it.
//
//   syscall-loop [--calls N] [--rounds R] [--cgroup DIR] [--label L]
//
// --cgroup moves the process into that cgroup v2 directory first (a
// pod-shaped one, to be seen as a pod). Prints one JSON line: ns per call,
// the minimum and the median over the rounds (the minimum is the least
// disturbed round on a shared machine).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void join_cgroup(const char *dir)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, "0", 1) != 1) {
		fprintf(stderr, "syscall-loop: cannot join %s: %s\n", dir, strerror(errno));
		exit(1);
	}
	close(fd);
}

int main(int argc, char **argv)
{
	long calls = 2000000, rounds = 7;
	const char *cgroup = NULL, *label = "";

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--calls"))
			calls = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--rounds"))
			rounds = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--cgroup"))
			cgroup = argv[i + 1];
		else if (!strcmp(argv[i], "--label"))
			label = argv[i + 1];
		else {
			fprintf(stderr, "syscall-loop: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (calls < 1 || rounds < 1 || rounds > 1000) {
		fprintf(stderr, "syscall-loop: --calls >= 1, --rounds 1..1000\n");
		return 2;
	}
	if (cgroup)
		join_cgroup(cgroup);

	double *ns = calloc(rounds, sizeof(*ns));
	for (long r = 0; r < rounds; r++) {
		double t0 = now_ns();
		for (long i = 0; i < calls; i++)
			syscall(SYS_getppid);
		ns[r] = (now_ns() - t0) / calls;
	}
	qsort(ns, rounds, sizeof(*ns), cmp_double);
	printf("{\"label\":\"%s\",\"calls\":%ld,\"rounds\":%ld,\"ns_per_call_min\":%.2f,\"ns_per_call_median\":%.2f}\n",
	       label, calls, rounds, ns[0], ns[rounds / 2]);
	free(ns);
	return 0;
}
