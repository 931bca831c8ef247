"""The papers' table layouts: which rows (systems) and which columns (metrics).

Rows default to the paper's systems and can be replaced per table in ``bench.toml``::

    [tables.2]
    rows = ["codesep", "fstc@2", "fstc@4", "fstc@8", "fstc-opus@12"]

A column names the stored metric column it shows and how to print it; ``published``
is the column name used in ``published.csv`` for the paper's value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.config import BenchConfig
from bench.errors import BenchError


@dataclass(frozen=True)
class Column:
    """One printed column: a stored metric column, a bitrate, or a listening-test score."""

    label: str
    source: str  # "bitrate" | "metric:<column>" | "listening:<test>"
    published: str  # key in published.csv (direction: the metric's ``higher_is_better``, shown by ↑/↓ in the label)
    scale: float = 1.0  # multiply stored values for printing (fractions -> %)
    digits: int = 2
    latex: str = ""
    exact_p: bool = False  # the value is a p-value: printed exactly (0.0048), with the significance marker

    @property
    def kind(self) -> str:
        return self.source.partition(":")[0]

    @property
    def target(self) -> str:
        return self.source.partition(":")[2]


@dataclass(frozen=True)
class TableLayout:
    key: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[str, ...]
    reference: str | None = "codesep"  # significance markers are paired tests against this row
    kind: str = "objective"  # "objective" | "abx"
    abx_tests: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


BITRATE = Column("Bitrate", "bitrate", "bitrate", digits=2, latex="Bitrate")
UTMOS = Column("UTMOS ↑", "metric:utmos", "utmos", latex=r"UTMOS $\uparrow$")
DNSMOS = Column("DNSMOS ↑", "metric:dnsmos_p808", "dnsmos", latex=r"DNSMOS $\uparrow$")
NMOS = Column("NMOS ↑", "listening:nmos", "nmos", latex=r"NMOS $\uparrow$")
SMOS = Column("SMOS ↑", "listening:smos", "smos", latex=r"SMOS $\uparrow$")
SISNRI = Column("SI-SNRi ↑", "metric:sisnri_db", "sisnri", digits=1, latex=r"SI-SNRi $\uparrow$")
VISQOL = Column("ViSQOL ↑", "metric:visqol", "visqol", latex=r"ViSQOL $\uparrow$")
DWER = Column("DWER ↓", "metric:dwer", "dwer", digits=1,
              latex=r"DWER (\%) $\downarrow$")
DCER = Column("DCER ↓", "metric:dcer", "dcer", digits=1,
              latex=r"DCER (\%) $\downarrow$")

LAYOUTS: dict[str, TableLayout] = {
    "1": TableLayout(
        "1", "Table 1: CodeSep and baselines at 1 kbps (objective metrics, MOS with 95% CI)",
        (BITRATE, UTMOS, DNSMOS, NMOS, SMOS), ("codesep", "fcts@1", "fstc@1", "sepformer")),
    "2": TableLayout(
        "2", "Table 2: CodeSep at 1 kbps vs FSTC at higher bitrates",
        (BITRATE, UTMOS, DNSMOS), ("codesep", "fstc@2", "fstc@4", "fstc@8")),
    "3": TableLayout(
        "3", "Table 3: ABX preferences, CodeSep at 1 kbps vs FSTC at higher bitrates",
        (), ("fstc@2", "fstc@4", "fstc@8"), kind="abx", abx_tests=("nabx", "sabx")),
    "4": TableLayout(
        "4", "Table 4: ABX preferences, CodeSep vs its ablations",
        (), ("codesep-noacbg", "codesep-notf"), kind="abx", abx_tests=("nabx", "sabx")),
    "tokensplit": TableLayout(
        "tokensplit", "TokenSplit table: separation and recognition quality",
        (SISNRI, DNSMOS, VISQOL, DWER, DCER),
        ("mixture", "sepformer", "tokensplit", "tokensplit-nontarget", "tokensplit-target", "tokensplit-both",
         "tokensplit-refine", "tokensplit-refine-target"), reference="tokensplit"),
}

#: how the papers name each system family in a row label
PAPER_NAMES = {
    "codesep": "CodeSep", "fcts": "FCTS", "fstc": "FSTC", "sepformer": "Sepformer", "mixture": "Mixture",
    "clean": "Clean", "codec": "Codec only", "tokensplit": "TokenSplit", "tokensplit-refine": "TokenSplitRefine",
    "tokensplit-target": "TokenSplit (target tr.)", "tokensplit-nontarget": "TokenSplit (non-target tr.)",
    "tokensplit-both": "TokenSplit (both tr.)", "tokensplit-refine-target": "TokenSplitRefine (target tr.)",
}


def row_label(system: str) -> str:
    """``fstc@2`` -> ``FSTC``; ``codesep-noacbg`` -> ``CodeSep-noacbg``; unknown names stay."""
    family, _, _ = system.partition("@")
    if family in PAPER_NAMES:
        return PAPER_NAMES[family]
    head, _, tail = family.partition("-")
    return f"{PAPER_NAMES[head]}-{tail}" if head in PAPER_NAMES and tail else system


def layout_for(table: str, config: BenchConfig) -> TableLayout:
    """The paper's layout, with rows from ``[tables.<N>] rows`` in bench.toml when given."""
    if table not in LAYOUTS:
        raise BenchError(f"unknown table {table!r}; choose one of {', '.join(LAYOUTS)}")
    layout = LAYOUTS[table]
    custom = config.tables.get(table, {}) if config.tables else {}
    rows = custom.get("rows")
    if rows is None:
        return layout
    if not isinstance(rows, list) or not all(isinstance(r, str) for r in rows) or not rows:
        where = config.path or "bench.toml"
        raise BenchError(f"{where}: [tables.{table}] rows must be a non-empty list of system names")
    reference = custom.get("reference", layout.reference)
    return TableLayout(layout.key, layout.title, layout.columns, tuple(rows), reference, layout.kind,
                       layout.abx_tests, layout.notes)
