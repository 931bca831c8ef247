"""Render a :class:`~bench.report.model.Table` as Markdown, LaTeX (booktabs) and CSV."""

from __future__ import annotations

import math
from pathlib import Path

from bench.report.layouts import Column
from bench.report.stats import format_p, significance_marker
from bench.report.model import Cell, Table, values_frame

DASH = "—"
LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "∞": r"$\infty$", "±": r"$\pm$", "↑": r"$\uparrow$", "↓": r"$\downarrow$", "—": "--"}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in text)


def _number(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else DASH


def cell_text(cell: Cell, column: Column, ci: bool, unit: str = "") -> str:
    """``3.14 [3.09, 3.19]**``, ``+∞``, ``0.98 kbps (1 nominal)`` or a dash."""
    if cell.text is not None:
        return cell.text
    if cell.value is None or not math.isfinite(cell.value):
        return DASH
    if column.exact_p:
        return format_p(cell.value) + significance_marker(cell.value)
    text = _number(cell.value, column.digits) + unit
    if ci and cell.ci is not None and all(math.isfinite(v) for v in cell.ci):
        text += f" [{_number(cell.ci[0], column.digits)}, {_number(cell.ci[1], column.digits)}]"
    if cell.nominal is not None:
        text += f" ({cell.nominal:g} nominal)"
    if cell.p_value is not None:
        text += significance_marker(cell.p_value)
    return text


def _footnotes(table: Table) -> tuple[dict[str, int], list[str]]:
    notes: list[str] = []
    index: dict[str, int] = {}
    for row in table.rows:
        for cell in row.cells.values():
            if cell.note and cell.note not in index:
                notes.append(cell.note)
                index[cell.note] = len(notes)
    return index, notes


def _unit(column: Column) -> str:
    return " kbps" if column.kind == "bitrate" else ""


def to_markdown(table: Table, ci: bool = True) -> str:
    index, notes = _footnotes(table)
    header = ["", *[c.label for c in table.columns]]
    lines = [f"**{table.layout.title}**", "", f"Dataset: {table.dataset_name}", "",
             "| " + " | ".join(header) + " |", "|---" + "|---:" * len(table.columns) + "|"]
    hints = []
    for row in table.rows:
        cells = [f"{row.label} ({row.system})" if row.label != row.system and table.layout.kind != "abx"
                 else row.label]
        for column in table.columns:
            cell = row.cells.get(column.label, Cell())
            text = cell_text(cell, column, ci, _unit(column))
            if cell.note:
                text += f" [{index[cell.note]}]"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
        if table.with_paper:
            published = [row.cells.get(c.label, Cell()).published or DASH for c in table.columns]
            lines.append("| ↳ *paper* | " + " | ".join(f"*{p}*" for p in published) + " |")
        if row.hint:
            hints.append(f"- {row.label} ({row.system}): {row.hint}")
    out = lines
    legend = []
    if ci and table.layout.kind != "abx":
        legend.append("Cells: mean [95% bootstrap CI over mixtures]")
    if table.layout.reference and table.layout.kind != "abx":
        legend.append(f"\\* p < 0.05, \\*\\* p < 0.01: paired Wilcoxon signed-rank test vs {table.layout.reference} "
                      "on per-mixture values (p in the CSV)")
    if table.layout.kind == "abx":
        legend.append("p (t-test): one-sample t-test of the votes (+1 CodeSep, −1 other, 0 N/P) against 0, the test "
                      "the CodeSep paper reports; p (binomial): exact two-sided sign test on the votes that are not "
                      "N/P; \\* p < 0.05, \\*\\* p < 0.01")
    if table.with_paper:
        legend.append("↳ *paper*: the value published in the paper, for comparison (different data and models)")
    if legend:
        out += ["", "; ".join(legend) + "."]
    if table.notes:
        out += ["", *table.notes]
    if notes:
        out += [""] + [f"[{i + 1}] {text}" for i, text in enumerate(notes)]
    if hints:
        out += ["", "Rows without results:"] + hints
    return "\n".join(out)


def to_latex(table: Table, ci: bool = True) -> str:
    """A booktabs ``tabular`` ready to ``\\input``; footnotes as a compact list below it."""
    index, notes = _footnotes(table)
    spec = "l" + "r" * len(table.columns)
    head = " & ".join(["", *[c.latex or latex_escape(c.label) for c in table.columns]])
    body = []
    for row in table.rows:
        cells = [latex_escape(row.label)]
        for column in table.columns:
            cell = row.cells.get(column.label, Cell())
            text = latex_escape(cell_text(cell, column, ci, _unit(column)))
            if cell.note:
                text += f"$^{{{index[cell.note]}}}$"
            cells.append(text)
        body.append(" & ".join(cells) + r" \\")
        if table.with_paper:
            published = [latex_escape(row.cells.get(c.label, Cell()).published or DASH) for c in table.columns]
            body.append(" & ".join([r"\quad\textit{paper}", *[rf"\textit{{{p}}}" for p in published]]) + r" \\")
    lines = [f"% {latex_escape(table.layout.title)} -- dataset {latex_escape(table.dataset_name)}",
             "% requires \\usepackage{booktabs}",
             rf"\begin{{tabular}}{{{spec}}}", r"\toprule", head + r" \\", r"\midrule", *body, r"\bottomrule",
             r"\end{tabular}"]
    if table.notes:
        lines.append(r"\par\smallskip{\footnotesize " + " ".join(latex_escape(n) for n in table.notes) + "}")
    if notes:
        lines.append(r"\par\smallskip{\footnotesize " + " ".join(
            rf"$^{{{i + 1}}}$\,{latex_escape(text)}" for i, text in enumerate(notes)) + "}")
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    return values_frame(table).to_csv(index=False, float_format="%.6g")


def write_table_files(table: Table, out_dir: Path, ci: bool = True) -> list[Path]:
    """Write ``table<N>.md``, ``.tex`` and ``.csv`` into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"table{table.layout.key}" if table.layout.key.isdigit() else f"table_{table.layout.key}"
    paths = []
    for suffix, text in ((".md", to_markdown(table, ci) + "\n"), (".tex", to_latex(table, ci)),
                         (".csv", to_csv(table))):
        path = out_dir / f"{stem}{suffix}"
        tmp = path.with_name(f".tmp-{path.name}")
        tmp.write_text(text)
        tmp.replace(path)
        paths.append(path)
    return paths
