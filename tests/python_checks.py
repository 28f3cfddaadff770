"""The Python of kpoll (CHECKED: harness/, scripts/, tests/) passes `mypy --strict` and
`ruff check` (ruff.toml).

    from tests import python_checks; python_checks.run(results)   # results: tap.Results
"""
from __future__ import annotations

import subprocess
import sys

from harness.env import ROOT
from tests.tap import Results

# The typed Python: the harness, the entry points of scripts/ and the test suites.
CHECKED = ["harness", "scripts", "tests"]


def _tool(argv: list[str]) -> str:
    proc = subprocess.run([sys.executable, "-m", *argv, *CHECKED], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "clean"


def run(results: Results) -> None:
    results.run("python: mypy --strict on harness/, scripts/ and tests/", _tool,
                ["mypy", "--strict"])
    results.run("python: ruff check on harness/, scripts/ and tests/", _tool, ["ruff", "check"])
