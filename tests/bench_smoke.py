"""Checks that the benchmark harness (scripts/bench.py --smoke) works: one seconds-long run of
vanilla and kpoll into a temporary folder, then its results.json and report.md are inspected.
It checks the harness, not a speed.

    import bench_smoke; bench_smoke.run(results, kernel, initrd)   # results: tap.Results
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from guest import build_loadgen

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONFIGS = ("vanilla", "kpoll")


def _bench(kernel, initrd, out):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "bench.py"), "--smoke",
                           "--kernel", kernel, "--initrd", initrd, "--loadgen", build_loadgen(),
                           "--out", out], capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, (f"bench.py --smoke exited {proc.returncode}:\n"
                                  f"{proc.stderr[-3000:]}")
    return proc


def _check_results(out):
    path = os.path.join(out, "results.json")
    assert os.path.isfile(path), "results.json missing"
    with open(path) as f:
        data = json.load(f)
    assert not data.get("aborted"), f"aborted: {data['aborted']}"
    for key in ("accel", "vcpus", "host_nproc", "guest_kernel", "date"):
        assert data["environment"].get(key) is not None, f"environment.{key} missing"
    details = []
    for name in CONFIGS:
        entries = [e for e in data["runs"] if e["config"] == name]
        assert entries, f"no runs of {name}"
        for e in entries:
            assert not e.get("error"), f"{name}: {e['error']}"
            runs = [e["saturation"], e["low_load"], *e["sweep"]]
            assert e["sweep"], f"{name}: no sweep point"
            for r in runs:
                lg = r["loadgen"]
                assert not lg.get("failed"), f"{name} {r['kind']}: loadgen failed: {lg}"
                assert lg["errors"]["total"] == 0, f"{name} {r['kind']}: errors {lg['errors']}"
                assert lg["misses"] == 0, f"{name} {r['kind']}: {lg['misses']} misses"
                assert lg["achieved_rps"] > 0, f"{name} {r['kind']}: no throughput"
                assert r["server_requests"] > 0 and r["total"] > 0, f"{name}: empty counters"
            if name == "kpoll":
                assert e.get("kpoll_counters"), "kpoll counters missing"
            details.append(f"{name}: {e['saturation']['loadgen']['achieved_rps']:.0f} req/s, "
                           f"{e['saturation']['irqs_per_req']:.4f} RX IRQs/req")
    return "; ".join(details)


def _check_report(out):
    path = os.path.join(out, "report.md")
    assert os.path.isfile(path), "report.md missing"
    with open(path) as f:
        text = f.read()
    for name in CONFIGS:
        assert f"| {name} |" in text, f"report.md does not mention {name}"
    assert "TCG" in text and "Targets" in text, "report.md lacks the caveat or the targets"
    return "report.md ok"


def run(results, kernel, initrd):
    out = tempfile.mkdtemp(prefix="kpoll-bench-smoke-")
    try:
        ran = results.run("bench: bench.py --smoke runs (vanilla, kpoll)", _bench, kernel,
                          initrd, out)
        if ran is None:
            return
        results.run("bench: results.json has both configurations, no loadgen errors",
                    _check_results, out)
        results.run("bench: report.md mentions both configurations", _check_report, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    from tap import Results
    if len(sys.argv) != 3:
        sys.exit("usage: bench_smoke.py KERNEL INITRD")
    res = Results()
    run(res, sys.argv[1], sys.argv[2])
    sys.exit(res.summary())
