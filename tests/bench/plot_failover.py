"""Plots the failover times of one `make bench` run, ferrolb next to MetalLB.

Usage: plot_failover.py <speaker.json> <out.png>

Reads the speaker benchmark's JSON (target/bench/speaker.json) and draws, for the hard failover
(speaker killed) and the graceful handover (SIGTERM), every trial of both systems on a log
scale, with their p50 and p95.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def figures(result, kind):
    """(samples, p50, p95) of ferrolb and of MetalLB, in seconds, as the benchmark computed
    them."""
    side = result["metallb"][kind]
    ours = (result[kind]["samples_s"], side["ferrolb"]["p50_s"], side["ferrolb"]["p95_s"])
    theirs = (side["metallb"]["samples_s"], side["metallb"]["p50_s"], side["metallb"]["p95_s"])
    return ours, theirs


def main():
    source, out = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as f:
        result = json.load(f)
    if not result.get("metallb"):
        sys.exit(f"{source} has no MetalLB figures")
    version = result["metallb"].get("version", "")
    kinds = [("hard_failover", "hard failover (speaker killed)"),
             ("graceful_handover", "graceful handover (SIGTERM)")]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, (kind, title) in zip(axes, kinds):
        ours, theirs = figures(result, kind)
        for x, ((values, p50, p95), colour) in enumerate(
                [(ours, "tab:orange"), (theirs, "tab:blue")]):
            ms = [v * 1000 for v in values]
            ax.scatter([x] * len(ms), ms, color=colour, alpha=0.6, s=18)
            for label, value, style, align in (("p50", p50, "-", "top"),
                                               ("p95", p95, "--", "bottom")):
                value *= 1000
                ax.hlines(value, x - 0.25, x + 0.25, colors=colour, linestyles=style)
                ax.annotate(f"{label} {value:.0f} ms", (x + 0.27, value), fontsize=8,
                            va=align)
        ax.set_xticks([0, 1], ["ferrolb", f"MetalLB {version}"])
        ax.set_xlim(-0.5, 1.9)
        ax.set_yscale("log")
        ax.set_title(title)
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0].set_ylabel("client reaches the new node after (ms, log scale)")
    trials = result.get("trials", "")
    fig.suptitle(f"Failover in the lab, {trials} trials each, same run (p50 solid, p95 dashed)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
