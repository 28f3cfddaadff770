#!/usr/bin/env bash
# Runs every kpoll test: host unit tests, then the VM suite on the patched kernel.
# Builds whatever is missing first. Ends with the line "N passed, N failed".
set -euo pipefail
exec python3 "$(dirname "$0")/run.py" "$@"
