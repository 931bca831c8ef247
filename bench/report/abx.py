"""Tables 3 and 4: ABX preferences from ``bench listen analyze`` results.

Rows are (test, CodeSep vs other system); cells come from the listening-results table
the listening-test analysis writes.  With no results the rows stay empty with the
commands that produce them.
"""

from __future__ import annotations

from bench.report.layouts import Column
from bench.store import Store

ABX_COLUMNS = (
    Column("CodeSep", "abx:pref_system", "codesep_pct", digits=2, latex="CodeSep"),
    Column("Other", "abx:pref_other", "other_pct", digits=2, latex="Other"),
    Column("N/P", "abx:pref_np", "np_pct", digits=2, latex="N/P"),
    Column("p-value", "abx:p_ttest", "p_value", digits=3, latex="$p$-value"),
)


def fill_abx_table(store: Store, table, keys: dict[str, str]) -> None:
    from bench.report.layouts import row_label
    from bench.report.tables import Cell, Row, _published, listening_results

    table.columns = list(ABX_COLUMNS)
    frame = listening_results(store)
    reference = table.layout.reference or "codesep"
    for test in table.layout.abx_tests:
        for other in table.layout.rows:
            label = f"{test.upper()} {row_label(reference)} vs {row_label(other)} ({other})"
            row = Row(label, other, keys.get(other))
            table.rows.append(row)
            hit = None
            if frame is not None:
                hit = frame[(frame["test"] == test) & (
                    ((frame["system"] == reference) & (frame["other"] == other))
                    | ((frame["system"] == other) & (frame["other"] == reference)))]
            if hit is None or hit.empty:
                row.hint = (f"no {test} results: bench listen export --test {test} --pair {reference}:{other} "
                            f"--base-url URL, run the batch on AMT, then bench listen analyze --results "
                            f"Batch_<id>_batch_results.csv --key key.csv")
            else:
                last = hit.iloc[-1]
                swapped = last["system"] != reference
                mine, theirs = ("pref_other", "pref_system") if swapped else ("pref_system", "pref_other")
                values = {"CodeSep": float(last[mine]), "Other": float(last[theirs]), "N/P": float(last["pref_np"]),
                          "p-value": float(last["p_ttest"])}
                for column in ABX_COLUMNS:
                    row.cells[column.label] = Cell(value=values[column.label], n=int(last["n"]))
            for column in ABX_COLUMNS:
                cell = row.cells.setdefault(column.label, Cell())
                if table.with_paper:
                    cell.published = _published(table.layout.key, other, column.published, test)
