"""kpoll's Python harness: typed modules by job, used by the entry points in scripts/ and
tests/. So far: the benchmark's statistics, configurations, measurement and report."""
