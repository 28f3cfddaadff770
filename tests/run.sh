#!/usr/bin/env bash
# Runs every kpoll test: host unit tests, then the VM suite on the patched kernel.
# Builds whatever is missing first. Ends with the line "N passed, N failed".
set -euo pipefail
# Python runs from the repository root, where it finds the harness and tests packages.
cd "$(dirname "$0")/.."
exec python3 -m tests.run "$@"
