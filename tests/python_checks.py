"""The typed Python (CHECKED: harness/, scripts/, typed tests/) passes `mypy --strict` and
`ruff check` (ruff.toml).

    from tests import python_checks; python_checks.run(results)   # results: tap.Results
"""
from __future__ import annotations

import subprocess
import sys

from harness.env import ROOT
from tests.tap import Results

# The typed Python: the harness, the entry points of scripts/, and the typed test modules.
CHECKED = ["harness", "scripts", "tests/__init__.py", "tests/tap.py", "tests/guest.py",
           "tests/guest_session.py", "tests/echo.py", "tests/python_checks.py",
           "tests/bad_input.py", "tests/bench_smoke.py", "tests/model_check.py",
           "tests/vm_suite.py", "tests/trust_tests.py", "tests/sysctl_suite.py",
           "tests/deb_vm_test.py", "tests/host_suite.py", "tests/fault_suite.py"]


def _tool(argv: list[str]) -> str:
    proc = subprocess.run([sys.executable, "-m", *argv, *CHECKED], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "clean"


def run(results: Results) -> None:
    results.run("python: mypy --strict on harness/, scripts/ and the typed tests/", _tool,
                ["mypy", "--strict"])
    results.run("python: ruff check on harness/, scripts/ and the typed tests/", _tool,
                ["ruff", "check"])
