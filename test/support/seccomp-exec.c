/*
 * seccomp-exec: run a command under an allow-list seccomp filter.
 *
 *   seccomp-exec ALLOWFILE COMMAND [ARG...]
 *
 * ALLOWFILE holds one syscall name per line (blank lines and # comments
 * ignored). Every other syscall fails with EPERM, which is what a profile
 * with defaultAction SCMP_ACT_ERRNO does under runc. Like runc with
 * NoNewPrivileges, the filter is loaded as the last step before execve(2),
 * so the only syscall this loader itself needs after loading is execve.
 *
 * With SECCOMP_EXEC_LOG=1 in the environment the default action is
 * SCMP_ACT_LOG instead (a profile in log mode: every other syscall runs and
 * is logged), and names this libseccomp does not know are skipped.
 *
 * Exit status: the command's, or 125 for a usage/setup error before the
 * filter is loaded, or 126 when execve itself was refused.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

static int add_allow_list(scmp_filter_ctx ctx, const char *path, int log_mode)
{
	char line[256];
	int lineno = 0, count = 0;
	FILE *f = fopen(path, "r");

	if (!f) {
		fprintf(stderr, "seccomp-exec: failed to open %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *name = trim(line);
		int nr, err;

		lineno++;
		if (*name == '\0' || *name == '#')
			continue;
		nr = seccomp_syscall_resolve_name(name);
		if (nr == __NR_SCMP_ERROR && log_mode)
			continue;
		if (nr == __NR_SCMP_ERROR) {
			fprintf(stderr, "seccomp-exec: %s:%d: unknown syscall %s\n", path, lineno, name);
			fclose(f);
			return -1;
		}
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (err < 0) {
			fprintf(stderr, "seccomp-exec: failed to allow %s: %s\n", name, strerror(-err));
			fclose(f);
			return -1;
		}
		count++;
	}
	fclose(f);
	return count;
}

int main(int argc, char **argv)
{
	scmp_filter_ctx ctx;
	const char *log_env = getenv("SECCOMP_EXEC_LOG");
	int log_mode = log_env != NULL && strcmp(log_env, "1") == 0;
	int err;

	if (argc < 3) {
		fprintf(stderr, "usage: seccomp-exec ALLOWFILE COMMAND [ARG...]\n");
		return 125;
	}
	ctx = seccomp_init(log_mode ? SCMP_ACT_LOG : SCMP_ACT_ERRNO(EPERM));
	if (!ctx) {
		fprintf(stderr, "seccomp-exec: failed to init the filter\n");
		return 125;
	}
	if (add_allow_list(ctx, argv[1], log_mode) < 0) {
		seccomp_release(ctx);
		return 125;
	}
	/* Nothing buffered may need a write after the filter is in place. */
	fflush(NULL);
	err = seccomp_load(ctx);
	if (err < 0) {
		fprintf(stderr, "seccomp-exec: failed to load the filter: %s\n", strerror(-err));
		seccomp_release(ctx);
		return 125;
	}
	/* No seccomp_release: freeing could munmap, and nothing but execve may run now. */
	execvp(argv[2], &argv[2]);
	/* Reporting may itself be denied (write); the exit status still says it. */
	fprintf(stderr, "seccomp-exec: failed to exec %s: %s\n", argv[2], strerror(errno));
	return 126;
}
