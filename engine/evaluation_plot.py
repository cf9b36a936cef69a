"""The PNG of ``engine evaluate --plot``: HR@10 over the stream, one line per method.

Each point is the HR@10 of one of the equal, consecutive parts of the scored
events (``hr@10_over_stream`` in the report), drawn at the part's middle, so
the plot shows how each method learns as the stream goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display needed

import matplotlib.pyplot as plt  # after use(): the backend is chosen first

__all__ = ["plot_hit_rate"]

#: The engine's own lists, drawn bold.
_HIGHLIGHTED = {"engine", "engine:learned", "engine:via_broker", "engine:in_process"}


def plot_hit_rate(dataset: str, results: dict[str, dict[str, Any]], path: Path) -> None:
    """Write the plot of every method's HR@10 over the stream to ``path`` (PNG)."""
    figure, axes = plt.subplots(figsize=(10, 6), dpi=110)
    ranked = sorted(results.items(), key=lambda kv: -kv[1]["hr@10"])
    tab20 = plt.get_cmap("tab20")  # 20 distinct colours: one per method
    colours = [tab20(i) for i in range(tab20.N)]
    for index, (name, row) in enumerate(ranked):
        values = row["hr@10_over_stream"]
        if not values:
            continue
        size = row["events"] / len(values)
        middles = [size * (i + 0.5) for i in range(len(values))]
        engine = name in _HIGHLIGHTED
        axes.plot(middles, values, label=f"{name} ({row['hr@10']:.4f})",
                  color=colours[index % len(colours)],
                  linestyle="-" if name.startswith("engine") else "--",  # baselines dashed
                  linewidth=2.4 if engine else 1.2, marker="o" if engine else None,
                  markersize=3)
    axes.set_title(f"HR@10 over the stream, test-then-train: {dataset}")
    axes.set_xlabel("scored events")
    axes.set_ylabel("HR@10 within each part of the stream")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                title="method (HR@10 overall)", title_fontsize=8)
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)
