"""Where the harness finds kpoll's files, and how it talks to the person running it.

`ROOT` is the repository (this package's parent folder); `CACHE` is the build and log cache,
`$KPOLL_CACHE` or `~/.cache/kpoll`, the same folder the shell scripts use (scripts/lib.sh).
"""
from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("KPOLL_CACHE") or os.path.expanduser("~/.cache/kpoll")


def log(msg: str) -> None:
    """A progress line on stderr, as scripts/lib.sh's `log` prints it."""
    print(f"[kpoll] {msg}", file=sys.stderr, flush=True)
