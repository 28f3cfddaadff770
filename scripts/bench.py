#!/usr/bin/env python3
"""kpoll benchmark: unmodified memcached in one guest boot under kpoll-loadgen load from the
host namespace, comparing vanilla, busy polling, IRQ deferral, both, and kpoll (three
watchdogs), interleaved over repetitions.

Per configuration and repetition: saturated throughput (closed loop, 16 connections), an
open-loop latency sweep at fractions of vanilla's saturation (from the first repetition), a
low-load run (closed loop, 1 connection) and idle CPU; around every load run RX IRQs, guest CPU
jiffies, NET_RX softirqs and memcached's request counter. Writes results.json, report.md and
plots (scripts/bench_plot.py) into --out.

Usually started by scripts/bench.sh (`make bench`), which builds everything first.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the shared tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from guest import GUEST, MEMCACHED_PORT, RX_IRQ, kpoll_counters, start_memcached, stop_memcached  # noqa: E402,E501
from vm import KPOLL_CACHE, Vm, VmError  # noqa: E402

SERVER = f"{GUEST}:{MEMCACHED_PORT}"
# /proc/net/kpoll columns that name a line; every later column is a counter. kpoll_counters()
# keeps the file's header names and order, so counters the module adds are picked up here.
KPOLL_NAME_COLUMNS = ("napi_id", "dev", "irq", "state")


def kpoll_numeric(row):
    """The counters of a kpoll_counters() line (a NAPI or the total) as ints, in column order."""
    return {k: int(v) for k, v in row.items() if k not in KPOLL_NAME_COLUMNS}


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Configurations: each is (name, setup script, expected read-backs, teardown script).

SYSCTL_BUSY = ("/proc/sys/net/core/busy_poll", "/proc/sys/net/core/busy_read")
DEFER = ("/sys/class/net/eth0/napi_defer_hard_irqs", "/sys/class/net/eth0/gro_flush_timeout")
KP = "/proc/sys/net/kpoll"


def _writes(pairs):
    return "; ".join(f"echo {v} > {p}" for p, v in pairs)


def _config(name, busy=False, defer=False, kpoll_wd=None):
    setup, expect, teardown = [], {}, []
    if busy:
        pairs = [(SYSCTL_BUSY[0], 50), (SYSCTL_BUSY[1], 50)]
        setup.append(_writes(pairs))
        expect.update({p: str(v) for p, v in pairs})
        teardown.append(_writes([(p, 0) for p in SYSCTL_BUSY]))
    if defer:
        pairs = [(DEFER[0], 100), (DEFER[1], 50000)]
        setup.append(_writes(pairs))
        expect.update({p: str(v) for p, v in pairs})
        teardown.append(_writes([(p, 0) for p in DEFER]))
    if kpoll_wd is not None:
        setup.append("insmod /lib/kpoll/kpoll.ko")
        if kpoll_wd != 10000:
            setup.append(f"echo {kpoll_wd} > {KP}/watchdog_us")
        setup.append(f"echo {MEMCACHED_PORT} > {KP}/ports")
        expect.update({f"{KP}/ports": str(MEMCACHED_PORT), f"{KP}/watchdog_us": str(kpoll_wd),
                       f"{KP}/enabled": "1"})
        teardown.append("rmmod kpoll")
    return {"name": name, "setup": setup, "expect": expect, "teardown": teardown,
            "kpoll": kpoll_wd is not None}


CONFIGS = [
    _config("vanilla"),
    _config("busy_poll=50", busy=True),
    _config("deferral", defer=True),
    _config("busy_poll+deferral", busy=True, defer=True),
    _config("kpoll", kpoll_wd=10000),
    _config("kpoll wd=2ms", kpoll_wd=2000),
    _config("kpoll wd=50ms", kpoll_wd=50000),
]
DEFAULTS = {SYSCTL_BUSY[0]: "0", SYSCTL_BUSY[1]: "0", DEFER[0]: "0", DEFER[1]: "0"}

# Run lengths per mode.
PROFILES = {
    "full": dict(reps=2, sat=(6, 1), sweep=(5, 1), fractions=(0.1, 0.3, 0.5, 0.7, 0.9),
                 low=(5, 1), idle=3, configs=None),
    "quick": dict(reps=1, sat=(3, 1), sweep=(3, 1), fractions=(0.1, 0.5, 0.9),
                  low=(3, 1), idle=2, configs=None),
    "smoke": dict(reps=1, sat=(2, 0.5), sweep=(2, 0.5), fractions=(0.5,),
                  low=(1.5, 0.5), idle=1, configs=["vanilla", "kpoll"]),
}


# --------------------------------------------------------------------------------------------
# Guest state

def read_values(vm, paths):
    out = vm.check("for f in " + " ".join(paths) + "; do echo \"$f=$(cat $f)\"; done")
    vals = {}
    for line in out.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            vals[k] = v.strip()
    return vals


def kpoll_loaded(vm):
    return vm.run("grep -q '^kpoll ' /proc/modules")[0] == 0


def verify_defaults(vm):
    """Everything at defaults and kpoll unloaded; raises otherwise."""
    vals = read_values(vm, list(DEFAULTS))
    bad = {k: v for k, v in vals.items() if v != DEFAULTS[k]}
    if bad or kpoll_loaded(vm):
        raise VmError(f"guest not at defaults: {bad} kpoll loaded={kpoll_loaded(vm)}")


def setup_config(vm, cfg):
    verify_defaults(vm)
    for step in cfg["setup"]:
        vm.check(step)
    if cfg["expect"]:
        vals = read_values(vm, list(cfg["expect"]))
        bad = {k: (vals.get(k), v) for k, v in cfg["expect"].items() if vals.get(k) != v}
        if bad:
            raise VmError(f"{cfg['name']}: settings did not take effect (got, want): {bad}")
        return vals
    return {}


def teardown_config(vm, cfg):
    for step in cfg["teardown"]:
        vm.run(step)
    verify_defaults(vm)


def softirq_net_rx(vm):
    out = vm.check("grep NET_RX /proc/softirqs")
    return sum(int(x) for x in out.split()[1:] if x.isdigit())


def memcached_ops(vm):
    """cmd_get + cmd_set from memcached's `stats`, asked from the host namespace."""
    script = (
        "import socket\n"
        f"s=socket.create_connection(('{GUEST}',{MEMCACHED_PORT}),timeout=20)\n"
        "s.sendall(b'stats\\r\\n')\n"
        "b=b''\n"
        "while not b.endswith(b'END\\r\\n'):\n"
        "    d=s.recv(65536)\n"
        "    if not d: break\n"
        "    b+=d\n"
        "print(b.decode())\n")
    proc = vm.host(["python3", "-c", script], timeout=60)
    if proc.returncode != 0:
        raise VmError(f"memcached stats failed: {proc.stderr[-500:]}")
    stats = dict(re.findall(r"^STAT (\S+) (\S+)", proc.stdout, re.M))
    return int(stats["cmd_get"]) + int(stats["cmd_set"])


def snapshot(vm, with_kpoll):
    busy, total = vm.cpu_jiffies()
    snap = {"rx_irqs": sum(vm.interrupts(RX_IRQ).values()), "busy": busy, "total": total,
            "net_rx": softirq_net_rx(vm)}
    if with_kpoll:
        snap["kpoll"] = kpoll_numeric(kpoll_counters(vm)["total"])
    return snap


# --------------------------------------------------------------------------------------------
# Load runs

def loadgen(vm, exe, args, duration, warmup):
    argv = [exe, "--server", SERVER, "--connections", str(args["connections"]), "--threads", "1",
            "--duration", str(duration), "--warmup", str(warmup), "--no-preload",
            "--drain-timeout", "5", "--json", *args.get("extra", [])]
    proc = vm.host(argv, timeout=duration + 60)
    line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), None)
    if line is None:
        return {"failed": True, "exit": proc.returncode, "stderr": proc.stderr[-2000:],
                "argv": argv[1:]}
    j = json.loads(line)
    lat = j.get("latency_us") or {}
    lag = j.get("send_lag_us") or {}
    return {
        "argv": argv[1:], "exit": proc.returncode, "failed": False,
        "mode": j["params"]["mode"], "offered_rps": j.get("offered_rps"),
        "achieved_rps": j["achieved_rps"], "requests": j["requests"],
        "misses": j["misses"], "errors": j["errors"], "error_samples": j.get("error_samples"),
        "reconnects": j.get("reconnects"),
        "latency_us": {k: lat.get(k) for k in ("count", "min", "mean", "p50", "p90", "p99",
                                               "p99_9", "max")},
        "send_lag_p99_us": lag.get("p99"),
    }


def measured_run(vm, exe, cfg, kind, duration, warmup, connections, rate=None):
    extra = ["--rate", f"{rate:.0f}"] if rate else ["--closed"]
    before = snapshot(vm, cfg["kpoll"])
    ops0 = memcached_ops(vm)
    t0 = time.monotonic()
    lg = loadgen(vm, exe, {"connections": connections, "extra": extra}, duration, warmup)
    wall = time.monotonic() - t0
    ops1 = memcached_ops(vm)
    after = snapshot(vm, cfg["kpoll"])
    ops = max(ops1 - ops0 - 1, 1)  # the first stats request is counted by memcached too
    d = {k: after[k] - before[k] for k in ("rx_irqs", "busy", "total", "net_rx")}
    run = {"kind": kind, "connections": connections, "rate": rate, "wall_s": round(wall, 2),
           "server_requests": ops, **d, "loadgen": lg,
           "irqs_per_req": d["rx_irqs"] / ops, "net_rx_per_req": d["net_rx"] / ops,
           "busy_per_1k": 1000.0 * d["busy"] / ops,
           "cpu_share": d["busy"] / max(d["total"], 1)}
    if cfg["kpoll"]:
        run["kpoll_delta"] = {k: after["kpoll"][k] - before["kpoll"].get(k, 0)
                              for k in after["kpoll"]}
    return run


def idle_cpu(vm, seconds):
    b0, t0 = vm.cpu_jiffies()
    i0 = sum(vm.interrupts(RX_IRQ).values())
    time.sleep(seconds)
    b1, t1 = vm.cpu_jiffies()
    i1 = sum(vm.interrupts(RX_IRQ).values())
    return {"seconds": seconds, "busy": b1 - b0, "total": t1 - t0, "rx_irqs": i1 - i0,
            "share": (b1 - b0) / max(t1 - t0, 1)}


def short(run):
    lg = run["loadgen"]
    if lg.get("failed"):
        return f"LOADGEN FAILED (exit {lg.get('exit')})"
    lat = lg["latency_us"]
    return (f"{lg['achieved_rps']:8.0f} rps  p50 {lat['p50']:8.0f} p99 {lat['p99']:8.0f} us  "
            f"{run['irqs_per_req']:.4f} irq/req  {run['busy_per_1k']:.2f} jif/1k  "
            f"err {lg['errors']['total']} miss {lg['misses']}")


def measure_config(vm, exe, cfg, prof, sweep_base):
    """All measurements of one configuration (already set up)."""
    res = {"idle": idle_cpu(vm, prof["idle"])}
    log(f"    idle CPU share {res['idle']['share']:.4f}")
    res["saturation"] = measured_run(vm, exe, cfg, "saturation", *prof["sat"], 16)
    log(f"    saturation:   {short(res['saturation'])}")
    base = sweep_base if sweep_base else res["saturation"]["loadgen"].get("achieved_rps") or 0
    res["sweep_base_rps"] = base
    res["sweep"] = []
    for frac in prof["fractions"]:
        if base <= 0:
            break
        run = measured_run(vm, exe, cfg, "sweep", *prof["sweep"], 16, rate=frac * base)
        run["fraction"] = frac
        res["sweep"].append(run)
        log(f"    {int(frac * 100):3d}% load:    {short(run)}")
    res["low_load"] = measured_run(vm, exe, cfg, "low_load", *prof["low"], 1)
    log(f"    low load:     {short(res['low_load'])}")
    if cfg["kpoll"]:
        res["kpoll_counters"] = kpoll_counters(vm)
    return res


# --------------------------------------------------------------------------------------------
# Environment

def _cmd(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def environment(vm, args, exe):
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
            cpu = m.group(1) if m else None
    except OSError:
        pass
    qemu = _cmd(["qemu-system-x86_64", "--version"])
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "accel": vm.accel, "qemu": qemu.splitlines()[0] if qemu else None,
        "vcpus": vm.vcpus, "guest_mem_mb": vm.mem_mb, "rx_queues": vm.queues,
        "host_nproc": os.cpu_count(), "host_cpu": cpu, "host_kernel": platform.release(),
        "guest_kernel": vm.check("uname -r").strip(),
        "memcached": vm.check("memcached -V").strip(),
        "memcached_cmd": f"memcached -u nobody -t 1 -l {GUEST} -p {MEMCACHED_PORT} -c 4096 -d",
        "loadgen": exe,
        "git_commit": _cmd(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]),
        "kernel_image": os.path.abspath(args.kernel), "initrd": os.path.abspath(args.initrd),
    }


# --------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------
# Report

def _med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _lg_ok(run):
    return run is not None and not run["loadgen"].get("failed")


def _sweep_at(entry, frac):
    return next((r for r in entry.get("sweep", []) if abs(r["fraction"] - frac) < 1e-9), None)


def _lat(run, key):
    return run["loadgen"]["latency_us"][key] if _lg_ok(run) else None


# (key, title, unit/format, extractor, lower is better)
METRICS = [
    ("sat_rps", "Saturated throughput (closed loop, 16 connections)", "requests/s", "{:.0f}",
     lambda e: e["saturation"]["loadgen"].get("achieved_rps") if _lg_ok(e["saturation"])
     else None),
    ("sat_irq", "RX IRQs per request at saturation", "IRQs/request", "{:.4f}",
     lambda e: e["saturation"]["irqs_per_req"]),
    ("sat_cpu", "Guest CPU per 1000 requests at saturation", "busy jiffies/1000 requests",
     "{:.2f}", lambda e: e["saturation"]["busy_per_1k"]),
    ("low_cpu", "Guest CPU per 1000 requests at low load (closed loop, 1 connection)",
     "busy jiffies/1000 requests", "{:.2f}", lambda e: e["low_load"]["busy_per_1k"]),
    ("sat_netrx", "NET_RX softirqs per request at saturation", "softirqs/request", "{:.4f}",
     lambda e: e["saturation"]["net_rx_per_req"]),
    ("low_irq", "RX IRQs per request at low load", "IRQs/request", "{:.4f}",
     lambda e: e["low_load"]["irqs_per_req"]),
    ("low_netrx", "NET_RX softirqs per request at low load", "softirqs/request", "{:.4f}",
     lambda e: e["low_load"]["net_rx_per_req"]),
    ("idle", "Idle CPU share (no load)", "busy/total jiffies", "{:.4f}",
     lambda e: e["idle"]["share"]),
    ("p50_50", "p50 latency at 50 % load (open loop)", "µs", "{:.0f}",
     lambda e: _lat(_sweep_at(e, 0.5), "p50")),
    ("p99_50", "p99 latency at 50 % load (open loop)", "µs", "{:.0f}",
     lambda e: _lat(_sweep_at(e, 0.5), "p99")),
    ("p999_50", "p99.9 latency at 50 % load (open loop)", "µs", "{:.0f}",
     lambda e: _lat(_sweep_at(e, 0.5), "p99_9")),
    ("low_p50", "p50 latency at low load (closed loop, 1 connection)", "µs", "{:.0f}",
     lambda e: _lat(e["low_load"], "p50")),
    ("low_p99", "p99 latency at low load (closed loop, 1 connection)", "µs", "{:.0f}",
     lambda e: _lat(e["low_load"], "p99")),
]


def _entries(data, name):
    return [e for e in data["runs"] if e["config"] == name and "saturation" in e]


def _safe(fn, e):
    try:
        return fn(e)
    except (KeyError, TypeError, IndexError):
        return None


def summarize(data):
    """{config: {metric key: (median, [per-rep values])}}"""
    out = {}
    for name in data["configs"]:
        ents = _entries(data, name)
        out[name] = {}
        for key, _t, _u, _f, fn in METRICS:
            vals = [_safe(fn, e) for e in ents]
            out[name][key] = (_med(vals), vals)
    return out


def _fmt(fmt, v):
    return "–" if v is None else fmt.format(v)


def _ratio(v, base):
    if v is None or base in (None, 0):
        return "–"
    return f"{v / base:.3f}×"


def _all_runs(entry):
    runs = [entry.get("saturation"), entry.get("low_load"), *entry.get("sweep", [])]
    return [r for r in runs if r]


def targets(summary):
    van = summary.get("vanilla", {})
    kname = "kpoll" if "kpoll" in summary else next((n for n in summary if n.startswith("kpoll")),
                                                    None)
    if kname is None or not van:
        return kname, []
    kp = summary[kname]

    def r(key):
        a, b = kp[key][0], van[key][0]
        return None if a is None or b in (None, 0) else a / b

    rows = []

    def add(what, value, shown, ok):
        rows.append((what, shown, "–" if ok is None else ("met" if ok else "**missed**")))

    v = r("sat_rps")
    add("saturated throughput ≥ 1.45× vanilla", v, _fmt("{:.3f}×", v), None if v is None else v >= 1.45)
    v = kp["sat_irq"][0]
    add("RX IRQs/request at saturation ≤ 0.01", v, _fmt("{:.4f}", v), None if v is None else v <= 0.01)
    v = r("sat_cpu")
    add("guest CPU/request at saturation ≤ 0.65× vanilla", v, _fmt("{:.3f}×", v),
        None if v is None else v <= 0.65)
    v = r("low_cpu")
    add("guest CPU/request at low load ≤ 1.05× vanilla", v, _fmt("{:.3f}×", v),
        None if v is None else v <= 1.05)
    v = r("p99_50")
    add("p99 latency at 50 % load ≤ 1.0× vanilla", v, _fmt("{:.3f}×", v),
        None if v is None else v <= 1.0)
    a, b = kp["idle"][0], van["idle"][0]
    ok = None if a is None or b is None else abs(a - b) <= 0.01
    add("idle CPU share equal to vanilla (within 0.01)", None,
        "–" if ok is None else f"{a:.4f} vs {b:.4f}", ok)
    return kname, rows


def make_report(data, pngs, notes):
    env = data.get("environment", {})
    summary = summarize(data)
    names = data["configs"]
    prof = data["profile"]
    L = []
    L.append("# kpoll benchmark results\n")
    L.append(f"Mode `{data['mode']}`, {prof['reps']} repetition(s), configurations interleaved "
             f"(A B C … A B C …) in one guest boot; {data.get('elapsed_s', 0):.0f} s in all.\n")
    L.append(f"- Environment: {env.get('qemu')} with **{str(env.get('accel', '?')).upper()}**, "
             f"{env.get('vcpus')} vCPU, guest kernel {env.get('guest_kernel')}, host "
             f"`nproc` = {env.get('host_nproc')} ({env.get('host_cpu')}), date {env.get('date')}, "
             f"commit {env.get('git_commit')}.")
    la0, la1 = data.get("host_loadavg_start"), data.get("host_loadavg_end")
    if la0:
        L.append(f"- Host load average (1 min) before the run {la0[0]:.2f}, at its end "
                 f"{la1[0]:.2f} (QEMU and the load generator account for up to ~2; more, or "
                 f"anything above ~0.5 before the run, means other work competed for the "
                 f"{env.get('host_nproc')} host cores and absolute numbers are noisier).")
    L.append(f"- Server: `{env.get('memcached_cmd')}` ({env.get('memcached')}), started once.")
    L.append(f"- Load: kpoll-loadgen on the host (network namespace, tap), 90 % gets, 10 000 keys, "
             f"64-byte values. Saturation: closed loop, 16 connections, {prof['sat'][0]} s "
             f"({prof['sat'][1]} s warm-up). Sweep: open loop (Poisson), 16 connections, "
             f"{prof['sweep'][0]} s, at "
             + ", ".join(f"{int(f * 100)} %" for f in prof["fractions"])
             + f" of vanilla's first-repetition saturation "
             f"({_fmt('{:.0f}', data.get('sweep_base_rps'))} requests/s). Low load: closed loop, "
             f"1 connection, {prof['low'][0]} s. Idle: {prof['idle']} s without load.")
    L.append("- Per-request counters (RX IRQs on `virtio0-input`, guest busy jiffies from "
             "`/proc/stat`, NET_RX from `/proc/softirqs`) are deltas around each load run "
             "divided by memcached's own `cmd_get + cmd_set` delta.")
    L.append("- Values are the **median over repetitions** (per-repetition values in brackets); "
             "ratios are to vanilla.")
    L.append("- **Caveat:** QEMU TCG emulates the CPU, so this benchmark cannot show cache, IPC or "
             "real interrupt-cost effects; absolute numbers mean nothing, only the comparison "
             "between configurations measured within this one run does.\n")
    for n in notes:
        L.append(f"> {n}\n")
    if data.get("aborted"):
        L.append(f"> **The run was aborted:** `{data['aborted'].strip()}`\n")
    errs = [e for e in data["runs"] if e.get("error")]
    for e in errs:
        L.append(f"> **{e['config']} rep {e['rep'] + 1} failed:** "
                 f"`{e['error'].splitlines()[0]}`\n")

    kname, trows = targets(summary)
    if trows:
        L.append(f"## Targets (`{kname}` vs `vanilla`)\n")
        L.append("| target | measured | verdict |")
        L.append("|---|---:|---|")
        for what, shown, verdict in trows:
            L.append(f"| {what} | {shown} | {verdict} |")
        L.append("")

    # Headline table
    L.append("## Summary (medians)\n")
    head = ["sat_rps", "sat_irq", "sat_cpu", "low_cpu", "sat_netrx", "idle", "p99_50"]
    titles = {"sat_rps": "sat. req/s", "sat_irq": "RX IRQs/req", "sat_cpu": "CPU jif/1k (sat.)",
              "low_cpu": "CPU jif/1k (low)", "sat_netrx": "NET_RX/req", "idle": "idle CPU",
              "p99_50": "p99 @50 % (µs)"}
    L.append("| config | " + " | ".join(titles[k] for k in head) + " |")
    L.append("|---|" + "---:|" * len(head))
    fmts = {m[0]: m[3] for m in METRICS}
    for name in names:
        cells = []
        for k in head:
            v = summary[name][k][0]
            base = summary.get("vanilla", {}).get(k, (None,))[0]
            cell = _fmt(fmts[k], v)
            if name != "vanilla" and k != "idle" and v is not None and base:
                cell += f" ({v / base:.2f}×)"
            cells.append(cell)
        L.append(f"| {name} | " + " | ".join(cells) + " |")
    L.append("")

    for key, title, unit, fmt, _fn in METRICS:
        L.append(f"### {title}\n")
        L.append(f"| config | median ({unit}) | vs vanilla | per repetition |")
        L.append("|---|---:|---:|---|")
        base = summary.get("vanilla", {}).get(key, (None,))[0]
        for name in names:
            med, vals = summary[name][key]
            L.append(f"| {name} | {_fmt(fmt, med)} | {_ratio(med, base)} | "
                     f"[{', '.join(_fmt(fmt, v) for v in vals)}] |")
        L.append("")

    # Sweep table
    L.append("### Latency sweep (open loop, medians)\n")
    L.append("| config | load | offered req/s | achieved req/s | p50 µs | p99 µs | p99.9 µs |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        ents = _entries(data, name)
        for frac in prof["fractions"]:
            runs = [r for r in (_sweep_at(e, frac) for e in ents) if _lg_ok(r)]
            if not runs:
                continue
            g = lambda f: _med([f(r) for r in runs])  # noqa: E731
            L.append(f"| {name} | {int(frac * 100)} % | {g(lambda r: r['rate']):.0f} | "
                     f"{g(lambda r: r['loadgen']['achieved_rps']):.0f} | "
                     f"{g(lambda r: _lat(r, 'p50')):.0f} | {g(lambda r: _lat(r, 'p99')):.0f} | "
                     f"{g(lambda r: _lat(r, 'p99_9')):.0f} |")
    L.append("")

    # kpoll counters
    kp_names = [n for n in names if any(e.get("kpoll_counters") for e in _entries(data, n))]
    if kp_names:
        totals = {n: [(e.get("kpoll_counters") or {}).get("total", {}) for e in _entries(data, n)]
                  for n in kp_names}
        # The counter columns in file order, as the module that produced the results printed them.
        cols = list(dict.fromkeys(k for ts in totals.values() for t in ts for k in t
                                  if k not in KPOLL_NAME_COLUMNS))
        L.append("### kpoll counters (`/proc/net/kpoll` total line at the end of each "
                 "configuration, summed over repetitions)\n")
        L.append("| config | " + " | ".join(cols) + " |")
        L.append("|---|" + "---:|" * len(cols))
        for name in kp_names:
            tot = {k: 0 for k in cols}
            seen = set()
            for t in totals[name]:
                for k in cols:
                    try:
                        tot[k] += int(t[k])
                        seen.add(k)
                    except (KeyError, ValueError):
                        pass
            L.append(f"| {name} | " + " | ".join(str(tot[k]) if k in seen else "-" for k in cols)
                     + " |")
        L.append("")

    # Errors
    L.append("### Load generator errors and misses (must be 0)\n")
    L.append("| config | runs | errors | misses | unsent | failed runs | |")
    L.append("|---|---:|---:|---:|---:|---:|---|")
    bad_any = False
    for name in names:
        runs = [r for e in _entries(data, name) for r in _all_runs(e)]
        ok = [r["loadgen"] for r in runs if _lg_ok(r)]
        errors = sum(lg["errors"]["total"] for lg in ok)
        misses = sum(lg["misses"] for lg in ok)
        unsent = sum(lg["requests"].get("unsent") or 0 for lg in ok)
        failed = len(runs) - len(ok)
        bad = errors or misses or failed
        bad_any = bad_any or bad
        L.append(f"| {name} | {len(runs)} | {errors} | {misses} | {unsent} | {failed} | "
                 f"{'**NONZERO**' if bad else 'ok'} |")
    L.append("")
    if bad_any:
        L.append("> **Some load runs had errors, misses or failed**; see results.json.\n")
    probs = data.get("console_problems") or []
    L.append(f"Kernel console problems: {len(probs)}" + (":" if probs else "."))
    for p in probs[:20]:
        L.append(f"    {p}")
    L.append("")
    if pngs:
        L.append("## Plots\n")
        for p in pngs:
            L.append(f"![{os.path.splitext(p)[0]}]({p})\n")
    return "\n".join(L) + "\n"


def write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel")
    ap.add_argument("--initrd")
    ap.add_argument("--report-only", metavar="DIR",
                    help="re-render report.md and plots from DIR/results.json; no run")
    ap.add_argument("--loadgen", default=os.path.join(KPOLL_CACHE, "tools-target", "release",
                                                      "kpoll-loadgen"))
    ap.add_argument("--out", default=None,
                    help="output folder (default $KPOLL_CACHE/bench-results/<timestamp>, or "
                         "docs/results with --commit-results)")
    ap.add_argument("--commit-results", action="store_true",
                    help="write into docs/results/ (the committed result set)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="1 rep, 3 s runs, 3 sweep points")
    mode.add_argument("--smoke", action="store_true",
                      help="seconds-long run of vanilla and kpoll, to check the harness")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 2)")
    ap.add_argument("--configs", default=None,
                    help="comma-separated subset of: " + ", ".join(c["name"] for c in CONFIGS))
    ap.add_argument("--no-plots", action="store_true")
    return ap.parse_args(argv)


def render(data, out, plots=True):
    """Writes the plots and report.md into `out`; returns the report text."""
    notes = []
    pngs = []
    if plots:
        try:
            import bench_plot
            pngs = bench_plot.plot(data, out)
        except Exception as e:  # noqa: BLE001 - plots never fail the benchmark
            notes.append(f"Plots skipped: {type(e).__name__}: {e}")
            log(notes[-1])
    report = make_report(data, pngs, notes)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(report)
    return report


def main(argv=None):
    args = parse_args(argv)
    if args.report_only:
        with open(os.path.join(args.report_only, "results.json")) as f:
            print(render(json.load(f), args.report_only, not args.no_plots))
        return 0
    if not args.kernel or not args.initrd:
        sys.exit("--kernel and --initrd are required (scripts/bench.sh passes them)")
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    prof = dict(PROFILES[mode])
    if args.reps:
        prof["reps"] = args.reps
    names = args.configs.split(",") if args.configs else prof["configs"]
    if names:
        known = {c["name"] for c in CONFIGS}
        unknown = [n for n in names if n not in known]
        if unknown:
            sys.exit(f"unknown configuration(s): {unknown}")
        if "vanilla" not in names:
            names = ["vanilla", *names]
        configs = [c for c in CONFIGS if c["name"] in names]
    else:
        configs = CONFIGS
    if args.out:
        out = args.out
    elif args.commit_results:
        out = os.path.join(ROOT, "docs", "results")
    else:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = os.path.join(KPOLL_CACHE, "bench-results", stamp)
    os.makedirs(out, exist_ok=True)
    exe = os.path.abspath(args.loadgen)
    if not os.access(exe, os.X_OK):
        sys.exit(f"kpoll-loadgen not found at {exe} (cargo build --release -p kpoll-loadgen)")

    data = {"mode": mode, "profile": {k: v for k, v in prof.items() if k != "configs"},
            "configs": [c["name"] for c in configs],
            "config_settings": {c["name"]: c["setup"] for c in configs},
            "runs": [], "aborted": None}
    json_path = os.path.join(out, "results.json")
    data["host_loadavg_start"] = os.getloadavg()
    started = time.monotonic()
    log(f"{mode} benchmark: {len(configs)} configurations x {prof['reps']} repetitions -> {out}")
    console = os.path.join(out, "console.log") if mode != "full" and not args.commit_results \
        else os.path.join(KPOLL_CACHE, "logs", "bench-console.log")
    os.makedirs(os.path.dirname(console), exist_ok=True)
    with Vm(args.kernel, args.initrd, vcpus=1, log_path=console) as vm:
        data["environment"] = environment(vm, args, exe)
        log(f"guest booted in {vm.boot_seconds:.1f} s ({vm.accel}); {data['environment']['qemu']}")
        start_memcached(vm)
        # Preload every key once; all later runs use --no-preload, so gets never miss.
        pre = vm.host([exe, "--server", SERVER, "--closed", "--connections", "1",
                       "--duration", "1", "--warmup", "0.5", "--json"], timeout=120)
        if pre.returncode != 0:
            raise VmError(f"preload run failed: {pre.stderr[-1000:]}")
        sweep_base = None
        try:
            for rep in range(prof["reps"]):
                for cfg in configs:
                    log(f"rep {rep + 1}/{prof['reps']} {cfg['name']}")
                    entry = {"config": cfg["name"], "rep": rep}
                    try:
                        entry["settings"] = setup_config(vm, cfg)
                        base = None if cfg["name"] == "vanilla" and rep == 0 else sweep_base
                        entry.update(measure_config(vm, exe, cfg, prof, base))
                        if cfg["name"] == "vanilla" and rep == 0:
                            sweep_base = entry["saturation"]["loadgen"].get("achieved_rps")
                            data["sweep_base_rps"] = sweep_base
                    except VmError as e:
                        entry["error"] = str(e)[:3000]
                        log(f"  FAILED: {str(e).splitlines()[0]}")
                        if not vm.alive():
                            raise
                    finally:
                        if vm.alive():
                            teardown_config(vm, cfg)
                    data["runs"].append(entry)
                    write_json(json_path, data)
            stop_memcached(vm)
        except Exception as e:  # noqa: BLE001 - keep what was measured
            data["aborted"] = "".join(traceback.format_exception_only(type(e), e))[:3000]
            log(f"benchmark aborted: {data['aborted']}")
        data["console_problems"] = vm.console_problems()
    data["elapsed_s"] = round(time.monotonic() - started, 1)
    data["host_loadavg_end"] = os.getloadavg()
    write_json(json_path, data)

    report = render(data, out, not args.no_plots)
    print(report)
    log(f"done in {data['elapsed_s']:.0f} s; results in {out}")
    return 1 if data["aborted"] else 0


if __name__ == "__main__":
    sys.exit(main())
