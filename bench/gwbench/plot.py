"""The PNG plot: added p50 and p99 latency and requests/s against concurrency.

Three panels share the concurrency axis (1, 16, 64, 256 on a log scale). Latency panels use a
symmetric log scale because the contenders differ by orders of magnitude and a proxy's added
latency can be slightly negative within noise; the throughput panel uses a log scale and
includes the direct baseline.

Example::

    write_plot(results, Path("bench/results/gateway.png"))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gwbench.report import added

COLORS = {"direct": "#7f7f7f", "nginx": "#2ca02c", "gateway": "#1f77b4", "litellm": "#d62728",
          "portkey": "#9467bd", "gateway-2w": "#17becf", "gateway-traced": "#ff7f0e"}
MARKERS = {"direct": "s", "nginx": "^", "gateway": "o", "litellm": "D", "portkey": "v",
           "gateway-2w": "P", "gateway-traced": "X"}


def write_plot(results: dict[str, Any], path: Path) -> Path:
    """Draw the three panels for every contender that produced results; save as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    entries = [e for e in results["contenders"] if not e.get("error") and e.get("levels")]
    fig, axes = plt.subplots(1, 3, figsize=(16, 5.2), constrained_layout=True)
    panels = [("p50_ms", "added median latency (ms)"), ("p99_ms", "added p99 latency (ms)")]
    all_levels = sorted({lvl["connections"] for e in entries for lvl in e["levels"]})
    for ax, (key, title) in zip(axes[:2], panels, strict=True):
        for entry in entries:
            if entry["name"] == "direct":
                continue
            xs, ys = [], []
            for lvl in entry["levels"]:
                value = added(results, entry["name"], lvl["connections"], key)
                if value is not None:
                    xs.append(lvl["connections"])
                    ys.append(value)
            ax.plot(xs, ys, marker=MARKERS.get(entry["name"], "o"), linewidth=2,
                    color=COLORS.get(entry["name"]), label=entry["label"])
        ax.set_yscale("symlog", linthresh=0.1)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.axhline(0, color="#bbbbbb", linewidth=0.8)
        ax.set_title(title + " over direct")
        ax.set_ylabel("ms (symmetric log scale)")
    ax = axes[2]
    for entry in entries:
        xs = [lvl["connections"] for lvl in entry["levels"]]
        ys = [lvl["requests_per_second"] for lvl in entry["levels"]]
        ax.plot(xs, ys, marker=MARKERS.get(entry["name"], "o"), linewidth=2,
                color=COLORS.get(entry["name"]), label=entry["label"],
                linestyle="--" if entry["name"] == "direct" else "-")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_title("requests per second")
    ax.set_ylabel("req/s (log scale)")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(all_levels or [1]))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlabel("concurrency (connections)")
        ax.grid(True, which="major", alpha=0.3)
    handles, labels = axes[2].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=max(1, min(len(labels), 4)),
               frameon=False)
    machine = results["meta"]["machine"]
    fig.suptitle(f"skyrelay gateway benchmark — {machine['cpus']} CPUs, loopback, static nginx "
                 f"upstream, {results['meta']['config']['duration']:g} s per level")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
