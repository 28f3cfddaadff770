// SPDX-License-Identifier: GPL-2.0
/*
 * epoll_params_preload.so: what an upstream (6.9+) user needs to put an unmodified epoll program,
 * such as memcached, into IRQ suspension (6.13, or the compare kernel flavour): every epoll
 * instance it creates gets EPIOCSPARAMS with prefer_busy_poll set.
 *
 *   LD_PRELOAD=/usr/local/lib/epoll_params_preload.so memcached ...
 *
 * Environment (read at each epoll_create, decimal):
 *   EPOLL_PARAMS_BUSY_POLL_USECS   busy_poll_usecs   (default 0: one busy-poll pass per wait)
 *   EPOLL_PARAMS_BUSY_POLL_BUDGET  busy_poll_budget  (default 64; above 64 needs CAP_NET_ADMIN)
 *   EPOLL_PARAMS_PREFER_BUSY_POLL  prefer_busy_poll  (default 1)
 * The defaults are the ones of upstream's IRQ-suspension cover letter (suspendX runs).
 *
 * Silent on success. A failed ioctl (or an unparsable variable, then the default is used)
 * writes one line to stderr; the epoll descriptor is returned either way.
 *
 * Build: cc -O2 -Wall -Wextra -shared -fPIC -o epoll_params_preload.so epoll_params_preload.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* The uapi of <linux/eventpoll.h> (6.9+); declared here, since that header clashes with glibc's
 * <sys/epoll.h> and older glibc headers lack it. */
struct kpoll_epoll_params {
	uint32_t busy_poll_usecs;
	uint16_t busy_poll_budget;
	uint8_t prefer_busy_poll;
	uint8_t pad; /* must be zero */
};
#define KPOLL_EPIOCSPARAMS _IOW(0x8A, 0x01, struct kpoll_epoll_params)

_Static_assert(sizeof(struct kpoll_epoll_params) == 8, "struct epoll_params is 8 bytes");

static unsigned long env_number(const char *name, unsigned long fallback, unsigned long max)
{
	const char *s = getenv(name);
	unsigned long v;
	char *end;

	if (!s || !*s)
		return fallback;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max || *s == '-') {
		dprintf(2, "epoll_params_preload: ignoring %s=%s (not a number up to %lu), using %lu\n",
			name, s, max, fallback);
		return fallback;
	}
	return v;
}

static void set_params(int epfd)
{
	struct kpoll_epoll_params p;
	int saved = errno;

	memset(&p, 0, sizeof(p));
	/* The kernel checks the ranges (EINVAL, EPERM); the caps here only keep the casts exact. */
	p.busy_poll_usecs = env_number("EPOLL_PARAMS_BUSY_POLL_USECS", 0, UINT32_MAX);
	p.busy_poll_budget = env_number("EPOLL_PARAMS_BUSY_POLL_BUDGET", 64, UINT16_MAX);
	p.prefer_busy_poll = env_number("EPOLL_PARAMS_PREFER_BUSY_POLL", 1, UINT8_MAX);
	if (ioctl(epfd, KPOLL_EPIOCSPARAMS, &p) < 0) {
		int err = errno;

		dprintf(2, "epoll_params_preload: EPIOCSPARAMS(busy_poll_usecs=%u busy_poll_budget=%u "
			   "prefer_busy_poll=%u) on epoll fd %d failed: %s (errno %d)\n",
			p.busy_poll_usecs, p.busy_poll_budget, p.prefer_busy_poll, epfd,
			strerror(err), err);
	}
	errno = saved;
}

static void *next_symbol(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (!f)
		dprintf(2, "epoll_params_preload: %s not found: %s\n", name, dlerror());
	return f;
}

int epoll_create1(int flags)
{
	static int (*real)(int);
	int (*f)(int) = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
	int fd;

	if (!f) {
		f = (int (*)(int))next_symbol("epoll_create1");
		if (!f) {
			errno = ENOSYS;
			return -1;
		}
		__atomic_store_n(&real, f, __ATOMIC_RELEASE);
	}
	fd = f(flags);
	if (fd >= 0)
		set_params(fd);
	return fd;
}

int epoll_create(int size)
{
	static int (*real)(int);
	int (*f)(int) = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
	int fd;

	if (!f) {
		f = (int (*)(int))next_symbol("epoll_create");
		if (!f) {
			errno = ENOSYS;
			return -1;
		}
		__atomic_store_n(&real, f, __ATOMIC_RELEASE);
	}
	fd = f(size);
	if (fd >= 0)
		set_params(fd);
	return fd;
}
