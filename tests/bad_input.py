"""The bad-input table of README.md ("Errors"), run row by row against the guest.

Each row is `| where | input | result |`. `where` is a knob name, "any knob, written by a
non-root user", "any knob, written by root without CAP_NET_ADMIN", or `SO_KPOLL` set/get;
`input` is the exact bytes written to the knob (a quoted string, or `17 ports`) or a
socket-option variation (`optlen = N`, `level = NAME`, `uid = N`, `userns = N`, `kpoll not
loaded`); `result` is the errno name expected."""
from __future__ import annotations

import os
import re

from harness.env import ROOT

README = os.path.join(ROOT, "README.md")
MARKER = "<!-- bad-input-table"
KNOBS = ("enabled", "ports", "watchdog_us", "budget")
ERRNO_TEXT = {"EINVAL": "Invalid argument", "EACCES": "Permission denied"}
LEVELS = {"IPPROTO_TCP": "tcp", "IPPROTO_IP": "ip"}
NON_ROOT = "any knob, written by a non-root user"
ROOT_WITHOUT_NET_ADMIN = "any knob, written by root without CAP_NET_ADMIN"


def rows(readme: str = README) -> list[tuple[str, ...]]:
    """The table rows as (where, input, result) with the Markdown backticks removed."""
    with open(readme) as f:
        text = f.read()
    start = text.index(MARKER)
    found = []
    for line in text[start:].splitlines()[1:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] in ("where", "---"):
            continue
        found.append(tuple(c.replace("`", "") for c in cells))
    assert len(found) >= 20, f"bad-input table too short: {len(found)} rows"
    return found


def knob_bytes(text: str) -> str:
    if text == "17 ports":
        return " ".join(str(p) for p in range(1000, 1017))
    m = re.fullmatch(r'"(.*)"', text)
    assert m, f"knob input must be a quoted string: {text!r}"
    return m.group(1)


def sockopt_args(where: str, text: str) -> str | None:
    """kpoll-sockopt arguments for a socket-option row; None for the not-loaded rows."""
    op = where.split()[-1]
    assert op in ("set", "get"), where
    if text == "kpoll not loaded":
        return None
    m = re.match(r"(optlen|level|uid|userns) = (\w+)", text)
    assert m, f"unknown SO_KPOLL input: {text!r}"
    name, value = m.groups()
    return f"{op} --{name} {LEVELS.get(value, value)}"
