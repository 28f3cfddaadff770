# kpoll: the two entry points are `make demo` and `make test` (see README.md).
# Both install what is missing, build the patched kernel (cached), the module and the guest.
.PHONY: demo test soak setup kernel module host-test bench profile deb deb-test

demo: setup
	scripts/demo.sh

# Tests run on the debug kernel (lockdep, RCU, ...), then a memory-safety stage on the KASAN
# kernel and a real-time stage on the PREEMPT_RT kernel; demo and bench use the release kernel.
test: setup
	KPOLL_FLAVOUR=debug KPOLL_KASAN_STAGE=1 KPOLL_RT_STAGE=1 tests/run.sh

# The same suite with every fault and stress trial count multiplied by KPOLL_SOAK (default 10).
soak: setup
	KPOLL_FLAVOUR=debug KPOLL_KASAN_STAGE=1 KPOLL_RT_STAGE=1 KPOLL_SOAK=$${KPOLL_SOAK:-10} tests/run.sh

setup:
	scripts/setup-toolchain.sh

kernel: setup
	scripts/build-kernel.sh

module: setup
	scripts/build-module.sh

host-test:
	cargo test --quiet

bench: setup
	scripts/bench.sh

# Guest instructions per request by function, vanilla against kpoll (scripts/profile.py).
profile: setup
	scripts/profile.sh

# Debian packages for a Debian 12 server (README "Install on a Debian 12 server"): the patched
# kernel from Debian's own config (FLAVOUR=cloud-amd64 or amd64), linux-headers that can build
# Rust modules, kpoll-dkms and kpollctl. Long the first time (niced kernel build, cached).
FLAVOUR ?= cloud-amd64
deb: setup
	KPOLL_DEB_FLAVOUR=$(FLAVOUR) scripts/deb-build.sh
	scripts/deb-dkms.sh

# Boots the packaged kernel (from the cached .debs of `make deb`) in the VM harness with kpoll
# built by DKMS in a chroot that has only the packages, and runs the memcached opt-in test.
deb-test: setup
	KPOLL_DEB_FLAVOUR=$(FLAVOUR) scripts/deb-test.sh
