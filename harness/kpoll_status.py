"""kpoll's state in the guest as `kpollctl status --json` reports it (kpollctl/src/json.rs,
schema 1): the knobs and NAPI table counts, one entry per NAPI, the total, the RX IRQs.

kpollctl parses /proc/net/kpoll with the column list of the policy crate that writes it, so
the harness has no parser of its own. Counters are keyed by the file's column names
(`suspensions`, `app_polls`, `app_packets`, `idle_resumes`, `watchdog_fires`, `held_us`,
`service_polls`, ...), with the file's values; a column the module does not print is left
out (kpollctl shows it as null). The total is the file's total line: it includes NAPI entries
reclaimed for other NAPIs, so it never decreases while the module is loaded.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from harness.guest_api import Guest

STATUS_COMMAND = "kpollctl status --json"
SCHEMA = 1
_JSON_START = re.compile(r"^\{", re.MULTILINE)


# The config line's counts that only grow while the module is loaded (src/policy/report.rs).
CONFIG_COUNTERS = ("rests",)

# The state of a held queue in /proc/net/kpoll and kpollctl's JSON (src/policy/report.rs).
HELD = "held"


@dataclass(frozen=True)
class Napi:
    """One NAPI line of /proc/net/kpoll."""

    napi_id: int
    dev: str | None
    irq: int | None
    state: str  # HELD (IRQ masked, an application polls), "irq" or "gone"
    counters: dict[str, int]


@dataclass(frozen=True)
class KpollReport:
    """kpoll's report at one instant."""

    # The knobs by name (`enabled` a bool, `ports` a list), then the NAPI table's counts
    # (`napis`, `reclaimed`, `untracked`).
    config: dict[str, Any]
    napis: list[Napi]
    total: dict[str, int]
    # kpollctl's RX IRQs per interface (`name`, `device`, `rx_irqs`, `irqs`), None when
    # /proc/interrupts could not be read.
    interfaces: list[dict[str, Any]] | None

    def counters(self) -> dict[str, int]:
        """The cumulative counters: the total line's, then the config line's counts that only
        grow (`rests`, when the module prints it)."""
        grown = {k: self.config[k] for k in CONFIG_COUNTERS if isinstance(self.config.get(k), int)}
        return {**self.total, **grown}

    def held(self) -> list[int]:
        """The NAPI IDs of the queues held now."""
        return [n.napi_id for n in self.napis if n.state == HELD]


def _counters(values: dict[str, int | None]) -> dict[str, int]:
    return {name: value for name, value in values.items() if value is not None}


def parse_status(text: str) -> KpollReport:
    """The report in `kpollctl status --json`'s output (a warning line before it is
    skipped)."""
    m = _JSON_START.search(text)
    if m is None:
        raise ValueError(f"no JSON in kpollctl's output: {text[-500:]!r}")
    doc, _ = json.JSONDecoder().raw_decode(text, m.start())
    if doc.get("schema") != SCHEMA:
        raise ValueError(f"kpollctl status --json schema {doc.get('schema')}, not {SCHEMA}")
    napis = [Napi(n["napi_id"], n["dev"], n["irq"], n["state"], _counters(n["counters"]))
             for n in doc["napis"]]
    return KpollReport(doc["config"], napis, _counters(doc["total"]), doc["interfaces"])


def kpoll_report(vm: Guest) -> KpollReport:
    """kpoll's report now (kpollctl fails, and so does this, when kpoll is not loaded)."""
    return parse_status(vm.check(STATUS_COMMAND))
