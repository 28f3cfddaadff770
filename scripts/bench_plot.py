#!/usr/bin/env python3
"""Plots for scripts/bench.py: p99 latency vs achieved throughput per configuration, and RX
IRQs per request at saturation. Usage: bench_plot.py RESULTS_DIR (reads results.json)."""
import json
import os
import statistics
import sys

COLORS = {"vanilla": "black", "busy_poll=50": "tab:orange", "deferral": "tab:green",
          "busy_poll+deferral": "tab:olive", "kpoll": "tab:blue", "kpoll wd=2ms": "tab:purple",
          "kpoll wd=50ms": "tab:cyan"}


def _ok(run):
    return run is not None and not run["loadgen"].get("failed")


def _med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def plot(data, out):
    """Writes the PNGs into `out`; returns their file names. Raises if matplotlib is missing."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = data["configs"]
    fractions = data["profile"]["fractions"]
    files = []
    env = data.get("environment", {})
    sub = (f"memcached -t 1, {env.get('vcpus', 1)} vCPU, QEMU {str(env.get('accel', '')).upper()}; "
           f"medians over {data['profile']['reps']} rep(s)")

    # 1. p99 vs achieved throughput
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for name in names:
        ents = [e for e in data["runs"] if e["config"] == name and "sweep" in e]
        xs, ys = [], []
        for frac in fractions:
            runs = [r for e in ents for r in e["sweep"]
                    if abs(r["fraction"] - frac) < 1e-9 and _ok(r)]
            if not runs:
                continue
            xs.append(_med([r["loadgen"]["achieved_rps"] for r in runs]))
            ys.append(_med([r["loadgen"]["latency_us"]["p99"] for r in runs]))
        if xs:
            style = "-" if name.startswith("kpoll") or name == "vanilla" else "--"
            ax.plot(xs, ys, style, marker="o", label=name, color=COLORS.get(name),
                    linewidth=2.2 if name in ("vanilla", "kpoll") else 1.3)
    ax.set_yscale("log")
    ax.set_xlabel("achieved throughput (requests/s)")
    ax.set_ylabel("p99 latency (µs, log scale)")
    ax.set_title("p99 latency vs throughput (open loop, 16 connections)\n" + sub, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "latency_vs_throughput.png"), dpi=110)
    plt.close(fig)
    files.append("latency_vs_throughput.png")

    # 2. RX IRQs per request at saturation (and low load)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    sat, low = [], []
    for name in names:
        ents = [e for e in data["runs"] if e["config"] == name and "saturation" in e]
        sat.append(_med([e["saturation"]["irqs_per_req"] for e in ents]) or 0)
        low.append(_med([e["low_load"]["irqs_per_req"] for e in ents]) or 0)
    x = range(len(names))
    w = 0.4
    b1 = ax.bar([i - w / 2 for i in x], sat, w, label="saturation (16 connections)",
                color=[COLORS.get(n, "gray") for n in names])
    b2 = ax.bar([i + w / 2 for i in x], low, w, label="low load (1 connection)",
                color=[COLORS.get(n, "gray") for n in names], alpha=0.45, hatch="//")
    for bars in (b1, b2):
        for bar in bars:
            h = bar.get_height()
            ax.annotate(f"{h:.3f}", (bar.get_x() + bar.get_width() / 2, max(h, 1e-4)),
                        ha="center", va="bottom", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylim(1e-4, 3)
    ax.set_xticks(list(x))
    ax.set_xticklabels(names, rotation=20, ha="right", fontsize=9)
    ax.set_ylabel("RX IRQs per request (log scale)")
    ax.set_title("RX IRQs per request\n" + sub, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "rx_irqs_per_request.png"), dpi=110)
    plt.close(fig)
    files.append("rx_irqs_per_request.png")
    return files


if __name__ == "__main__":
    d = sys.argv[1] if len(sys.argv) > 1 else "."
    with open(os.path.join(d, "results.json")) as f:
        print("\n".join(plot(json.load(f), d)))
