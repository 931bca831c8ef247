"""Tables 3 and 4: ABX preferences from ``bench listen analyze`` results.

Rows are (test, CodeSep vs other system); cells come from the listening-results table
the listening-test analysis writes, with both p-values it stores: the t-test the
CodeSep paper reports and the exact binomial sign test.  How the listeners were
screened (``--exclude worker|assignment``) is a footnote.  With no results the rows
stay empty with the commands that produce them.
"""

from __future__ import annotations

from bench.listen.names import KEY_NAME, SECRET_DIR
from bench.report.layouts import Column, row_label
from bench.report.listening import listening_results
from bench.report.model import Cell, Row, Table
from bench.report.published import published_text
from bench.store import Store

ABX_COLUMNS = (
    Column("CodeSep", "abx:pref_system", "codesep_pct", digits=2, latex="CodeSep"),
    Column("Other", "abx:pref_other", "other_pct", digits=2, latex="Other"),
    Column("N/P", "abx:pref_np", "np_pct", digits=2, latex="N/P"),
    Column("p (t-test)", "abx:p_ttest", "p_value", latex="$p$ (t-test)", exact_p=True),
    Column("p (binomial)", "abx:p_sign", "p_binomial", latex="$p$ (binomial)", exact_p=True),
)
_POLICY = {"worker": "every assignment of a worker who failed a check dropped",
           "assignment": "only failing assignments dropped"}


def fill_abx_table(store: Store, table: Table, keys: dict[str, str]) -> None:
    """One row per (test, CodeSep vs other) of ``table.layout``, from the latest analysed batch."""
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
                            f"--base-url URL --out DIR, run the batch on AMT (or in a lab: bench listen serve DIR), "
                            f"then bench listen analyze --results Batch_<id>_batch_results.csv --key DIR/{SECRET_DIR}/{KEY_NAME}")
            else:
                last = hit.iloc[-1]
                swapped = last["system"] != reference
                mine, theirs = ("pref_other", "pref_system") if swapped else ("pref_system", "pref_other")
                values = {"CodeSep": float(last[mine]), "Other": float(last[theirs]), "N/P": float(last["pref_np"]),
                          "p (t-test)": float(last["p_ttest"]), "p (binomial)": float(last["p_sign"])}
                policy = last.get("exclude_policy")
                note = (f"listeners screened with --exclude {policy} ({_POLICY.get(policy, policy)})"
                        if isinstance(policy, str) and policy else "screening policy not recorded (analysed before "
                        "--exclude existed)")
                for column in ABX_COLUMNS:
                    row.cells[column.label] = Cell(value=values[column.label], n=int(last["n"]),
                                                   note=note if column.label == "p (t-test)" else None)
            for column in ABX_COLUMNS:
                cell = row.cells.setdefault(column.label, Cell())
                if table.with_paper:
                    cell.published = published_text(table.layout.key, other, column.published, test)
