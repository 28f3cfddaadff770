#!/usr/bin/env bash
# Checks that the Rust toolchain can build 6.12's Rust code; one line on failure.
# With a kernel tree as argument, also asks the kernel itself (make rustavailable).
# KPOLL_RUSTC overrides the rustc to check.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

rustc=${KPOLL_RUSTC:-rustc}
version=$("$rustc" --version 2>/dev/null | sed -nE 's/^rustc ([0-9]+\.[0-9]+)\..*/\1/p') || true
[ -n "$version" ] || die "Rust: '$rustc --version' does not name a rustc; install Rust with rustup"
IFS=. read -r major minor _ <<<"$version"
if ((major < 1 || (major == 1 && minor < 78))); then
	die "Rust: rustc $version is too old for Linux 6.12 (needs >= 1.78)"
fi
command -v bindgen >/dev/null || die "Rust: bindgen not found (cargo install --locked bindgen-cli)"
if [ $# -ge 1 ]; then
	out=$(make -s -C "$1" LLVM=1 ARCH=x86_64 RUSTC="$rustc" rustavailable 2>&1) ||
		die "Rust: the kernel rejects the toolchain: $(echo "$out" | grep -m1 -iE 'error|not' || echo "$out" | head -1)"
fi
