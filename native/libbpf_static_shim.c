/*
 * Lets Debian's libbpf.a link into this shared object.
 *
 * Debian builds libbpf.a as position-dependent (PIE) code. Its only
 * reference to a data symbol outside libbpf -- `stderr`, in libbpf's
 * default print function -- uses a PC-relative relocation, which a shared
 * object cannot resolve against libc. This hidden definition satisfies
 * that reference inside the addon and is pointed at the process's real
 * stderr when the addon loads. (libbpf's default printer never runs in
 * practice: the addon installs its own print callback on load.)
 *
 * No <stdio.h> here: it declares the real `stderr`.
 */
#include <dlfcn.h>

struct _IO_FILE;

__attribute__((visibility("hidden"))) struct _IO_FILE *stderr;

__attribute__((constructor)) static void kp_bind_stderr(void)
{
	struct _IO_FILE **real = dlsym(RTLD_DEFAULT, "stderr");

	if (real)
		stderr = *real;
}
