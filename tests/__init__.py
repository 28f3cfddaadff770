"""kpoll's test suites, run by tests/run.sh as `python3 -m tests.run` from the repository root.

The modules import the harness package and each other as `harness.*` and `tests.*`."""
