"""Rate–quality and per-utterance plots from the store (matplotlib, Agg backend).

``rate_quality``: for each metric, value vs measured bitrate on a log axis; one line per
family run at several bitrates (FSTC, FCTS, codec-only), CodeSep/TokenSplit as
points, unbounded systems (Sepformer, clean) as horizontal references; error bars are
the same bootstrap CIs the tables print.

Both plots read the report's one aggregation path (:mod:`bench.report.aggregate`): when
systems were run on different ``--limit`` subsets, every point and distribution is over
the mixtures they all share (:func:`~bench.report.aggregate.coverage`, as in ``bench
report`` and the tables), and the figure's caption says so.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.errors import BenchError
from bench.report.aggregate import SystemResults, coverage
from bench.report.layouts import row_label
from bench.report.stats import bootstrap_ci
from bench.store import Store

LINE_FAMILIES = ("fstc", "fcts", "codec")
KBPS_TICKS = (0.5, 1, 2, 4, 8, 16, 32)
DEFAULT_RATE_METRICS = (("utmos", "UTMOS"), ("dnsmos_p808", "DNSMOS (P.808)"), ("dwer", "DWER"),
                        ("stoi", "STOI"))


@dataclass
class Plotted:
    """What a plot wrote and what it drew."""

    paths: list[Path]
    #: the figure's caption on the subsets (``None``: every system has the same mixtures)
    note: str | None = None
    #: report column -> the points drawn (``system, family, value, low, high, kbps``; rate-quality only)
    points: dict[str, pd.DataFrame] = field(default_factory=dict)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _compared(store: Store, dataset_key: str) -> tuple[dict[str, SystemResults], str | None]:
    """Each system's results over the mixtures the report compares, and the caption on the subsets
    (``None`` when every system has the same mixtures)."""
    keys = store.system_keys(dataset_key)
    subsets = coverage(store, dataset_key, keys)
    results = {name: SystemResults(store, dataset_key, key, subsets.only) for name, key in keys.items()}
    return results, subsets.note() if subsets.shared is not None else None


def _save(plt, fig, out: Path, caption: str | None = None) -> list[Path]:
    """Write ``out.png`` and ``out.pdf`` (``caption``, the note on the subsets, under the axes); release the figure."""
    if caption is None:
        fig.tight_layout()
    else:
        width, height = fig.get_size_inches()
        text = textwrap.fill(f"Mixtures: {caption}.", width=max(40, int(width * 15)))
        fig.text(0.5, 0.01, text, ha="center", va="bottom", fontsize=8)
        lines = text.count("\n") + 1
        fig.tight_layout(rect=(0, min(0.5, (lines * 8 * 1.3 / 72 + 0.1) / height), 1, 1))
    paths = [out.with_suffix(".png"), out.with_suffix(".pdf")]
    out.parent.mkdir(parents=True, exist_ok=True)
    for path in paths:
        fig.savefig(path, dpi=150)
    plt.close(fig)
    return paths


def _points(store: Store, compared: dict[str, SystemResults], column: str, resamples: int,
            seed: int) -> pd.DataFrame:
    records = []
    family_of = store.system_families()
    for name, results in compared.items():
        part = results.parts(column)
        if part is None:
            continue
        rate = results.bitrate()
        low, high = bootstrap_ci(part, resamples, seed)
        records.append({"system": name, "family": family_of.get(results.system_key, name), "value": part.value,
                        "low": low, "high": high,
                        "kbps": None if rate.unbounded or rate.parts is None else rate.parts.value})
    return pd.DataFrame(records)


def rate_quality(store: Store, dataset_key: str, out: Path, metrics=DEFAULT_RATE_METRICS, resamples: int = 1000,
                 seed: int = 0) -> Plotted:
    plt = _pyplot()
    compared, note = _compared(store, dataset_key)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), squeeze=False)
    drawn = 0
    points: dict[str, pd.DataFrame] = {}
    for ax, (column, title) in zip(axes[0], metrics):
        frame = points[column] = _points(store, compared, column, resamples, seed)
        ax.set_title(title)
        ax.set_xscale("log")
        ax.set_xticks(KBPS_TICKS, [f"{t:g}" for t in KBPS_TICKS])  # plain numbers, not 2x10^0
        ax.minorticks_off()
        ax.set_xlabel("measured bitrate (kbps)")
        ax.grid(True, which="both", alpha=0.3)
        if frame.empty:
            ax.text(0.5, 0.5, "not computed", ha="center", va="center", transform=ax.transAxes, color="grey")
            continue
        drawn += 1
        bounded = frame[frame["kbps"].notna()]
        for family, group in bounded.groupby("family"):
            group = group.sort_values("kbps")
            err = [group["value"] - group["low"], group["high"] - group["value"]]
            if family in LINE_FAMILIES:
                ax.errorbar(group["kbps"], group["value"], yerr=err, marker="o", capsize=3, label=row_label(family))
            else:
                ax.errorbar(group["kbps"], group["value"], yerr=err, marker="*", markersize=12, linestyle="none",
                            capsize=3, label=row_label(family))
        for _, point in frame[frame["kbps"].isna()].iterrows():
            ax.axhline(point["value"], linestyle="--", alpha=0.7, color="grey" if point["family"] != "sepformer"
                       else "black", label=f"{row_label(point['system'])} (unbounded)")
        ax.legend(fontsize=7)
    if drawn == 0:
        plt.close(fig)
        raise BenchError("no stored metric to plot (run `bench run` with utmos, dnsmos, dwer or stoi first)")
    return Plotted(_save(plt, fig, out, note), note, points)


def per_utterance(store: Store, dataset_key: str, column: str, out: Path, kind: str = "box") -> Plotted:
    """Distribution of per-mixture values of one column for each system."""
    plt = _pyplot()
    compared, note = _compared(store, dataset_key)
    data, labels = [], []
    for name, results in compared.items():
        part = results.parts(column)
        if part is None:
            continue
        data.append(list(part.per_mixture().values()))
        labels.append(name)
    if not data:
        raise BenchError(f"no stored values for column {column!r} (see `bench report` for what exists)")
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(data) + 1.5), 3.8))
    if kind == "violin":
        ax.violinplot(data, showmedians=True)
        ax.set_xticks(range(1, len(labels) + 1), labels)
    else:
        ax.boxplot(data, tick_labels=labels)
    ax.set_ylabel(column)
    ax.set_title(f"per-mixture {column}")
    ax.grid(True, axis="y", alpha=0.3)
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    return Plotted(_save(plt, fig, out, note), note)
