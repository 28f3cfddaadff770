"""The typed Python harness (harness/) passes `mypy --strict` and `ruff check` (ruff.toml).

    from tests import python_checks; python_checks.run(results)   # results: tap.Results
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECKED = ["harness"]


def _tool(argv):
    proc = subprocess.run([sys.executable, "-m", *argv, *CHECKED], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "clean"


def run(results):
    results.run("python: mypy --strict on harness/", _tool, ["mypy", "--strict"])
    results.run("python: ruff check on harness/", _tool, ["ruff", "check"])
