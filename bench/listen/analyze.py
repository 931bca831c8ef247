"""``bench listen analyze``: AMT results + the secret key -> screening, statistics, stored rows.

Only assignments that pass screening (:mod:`bench.listen.screening`) contribute, and
only their answered test items (gold items judge the listener, not a system; blank
items are dropped).  The settings of the export (``SECRET_export.json`` next to the
key) supply the test, the pair order and the per-worker limit; the key alone is
enough when they are missing.  The exclusion policy is stored with every row, so a
table can say how its listeners were screened.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError
from bench.listen import stats
from bench.listen.amt_csv import batch_name, read_results_file
from bench.listen.design import ANSWER_A, ANSWER_B, TestDesign, get_test
from bench.listen.export import KEY_COLUMNS
from bench.listen.hits import GOLD_ANCHOR, GOLD_NATURAL
from bench.listen.items import missing_play_columns
from bench.listen.names import REVIEW_NAME, SETTINGS_NAME
from bench.listen.review import write_review
from bench.listen.screening import EXCLUDE_WORKER, Rules, Screened, screen
from bench.report.stats import format_p


@dataclass
class AnalyzeRequest:
    results: Path
    key: Path
    store: Path | None = Path("results")
    out: Path | None = None  # the review upload; default approve_reject.csv next to the results file
    ci: str = "t"
    max_hits_per_worker: int | None = None
    min_time_factor: float = 1.0
    exclude: str = EXCLUDE_WORKER
    max_blank_share: float = 0.2
    check_plays: bool = True


@dataclass
class Analysis:
    design: TestDesign
    batch: str
    screened: list[Screened]
    rows: list[dict]  # listening_results rows
    gold: dict[str, stats.MosResult] = field(default_factory=dict)
    approve_reject: Path | None = None
    summary: Path | None = None
    stored: bool = False
    rules: Rules = field(default_factory=Rules)


def read_key(path: Path) -> dict[str, dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise BenchError(f"{path}: key file not found") from None
    if not rows or any(c not in rows[0] for c in ("token", "role", "system", "mixture_id", "source")):
        raise BenchError(f"{path}: not a key file from `bench listen export` (expected columns {', '.join(KEY_COLUMNS)})")
    return {r["token"]: r for r in rows}


def read_settings(key_path: Path) -> dict:
    path = Path(key_path).with_name(SETTINGS_NAME)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _sentence(clip: dict[str, str]) -> str:
    return f"{clip['mixture_id']}#{clip['source']}"


def mos_rows(design: TestDesign, used: list[Screened], ci: str) -> tuple[list[dict], dict[str, stats.MosResult]]:
    by_system: dict[str, list[tuple[float, str, str]]] = defaultdict(list)
    gold: dict[str, list[float]] = defaultdict(list)
    for s in used:
        for slot in s.answered:
            clip = slot.clips["clip"]
            value = float(slot.answer)
            if slot.is_gold:
                gold[clip["role"]].append(value)
            else:
                by_system[clip["system"]].append((value, s.assignment.worker_id, _sentence(clip)))
    rows = []
    for system in sorted(by_system):
        values, workers, sentences = zip(*by_system[system])
        result = stats.mos_crowdmos(values, workers, sentences) if ci == "crowdmos" else stats.mos_t(values)
        rows.append({"system": system, "other": "", "n": result.n, "n_workers": len(set(workers)),
                     "mean": result.mean, "ci_low": result.ci_low, "ci_high": result.ci_high, "ci_method": ci})
    return rows, {role: stats.mos_t(v) for role, v in gold.items()}


def abx_rows(used: list[Screened], pairs: list[tuple[str, str]]) -> list[dict]:
    votes: dict[tuple[str, str], list[int]] = defaultdict(list)
    workers: dict[tuple[str, str], set[str]] = defaultdict(set)
    order = {frozenset(p): tuple(p) for p in pairs}
    for s in used:
        for slot in s.answered:
            if slot.is_gold:
                continue
            a, b = slot.clips["a"]["system"], slot.clips["b"]["system"]
            pair = order.setdefault(frozenset((a, b)), tuple(sorted((a, b))))
            chosen = a if slot.answer == ANSWER_A else b if slot.answer == ANSWER_B else None
            votes[pair].append(0 if chosen is None else (1 if chosen == pair[0] else -1))
            workers[pair].add(s.assignment.worker_id)
    rows = []
    for pair in [p for p in order.values() if p in votes]:
        r = stats.abx(votes[pair])
        rows.append({"system": pair[0], "other": pair[1], "n": r.n, "n_workers": len(workers[pair]),
                     "pref_system": r.pref_first, "pref_other": r.pref_second, "pref_np": r.pref_np,
                     "p_ttest": r.p_ttest, "p_sign": r.p_sign})
    return rows


def analyze(request: AnalyzeRequest) -> Analysis:
    key = read_key(request.key)
    settings = read_settings(request.key)
    tests = {r.get("test", "") for r in key.values()} - {""}
    if len(tests) != 1:
        raise BenchError(f"{request.key}: expected one test in the key, found {sorted(tests) or 'none'}")
    design = get_test(tests.pop())
    if request.ci not in ("t", "crowdmos"):
        raise BenchError(f"--ci must be t or crowdmos, got {request.ci!r}")
    limit = request.max_hits_per_worker or int(settings.get("max_hits_per_worker", 4))
    rules = Rules(max_hits_per_worker=limit, min_time_factor=request.min_time_factor, exclude=request.exclude,
                  max_blank_share=request.max_blank_share, check_plays=request.check_plays)
    results = read_results_file(request.results)
    if rules.check_plays and (missing := missing_play_columns(results.assignments, design)):
        raise BenchError(f"{request.results}: no play-tracking columns ({', '.join(missing[:3])}"
                         f"{', ...' if len(missing) > 3 else ''}; {len(missing)} missing), so no clip can be shown "
                         "to have been played: add --no-play-check to analyze without the play check")
    screened = screen(results.assignments, design, key, rules)
    batch = batch_name(request.results)
    out = Path(request.out or Path(request.results).with_name(REVIEW_NAME))
    if out.resolve() == Path(request.results).resolve():
        raise BenchError(f"{out}: --out would overwrite the results file; choose another name")
    upload, summary = write_review(out, results, screened)
    used = [s for s in screened if s.used]
    gold: dict[str, stats.MosResult] = {}
    if design.kind == "mos":
        rows, gold = mos_rows(design, used, request.ci)
    else:
        rows = abx_rows(used, [tuple(p) for p in settings.get("pairs", [])])
    for row in rows:
        row["dataset_key"] = settings.get("dataset_key")
        row["exclude_policy"] = rules.exclude
    analysis = Analysis(design, batch, screened, rows, gold, upload, summary, rules=rules)
    if request.store is not None and (Path(request.store) / "bench.sqlite").exists():
        from bench.store import Store

        store = Store(request.store)
        try:
            store.save_listening_results(batch, design.name, rows)
            analysis.stored = True
        finally:
            store.close()
    return analysis


_POLICY = {"worker": "every assignment of a worker who failed a check is dropped",
           "assignment": "only the failing assignments are dropped"}


def format_analysis(a: Analysis) -> str:
    """Console summary: screening counts, then the Table 1 (MOS) or Table 3 (ABX) style rows."""
    total = len(a.screened)
    amt_rejected = sum(1 for s in a.screened if s.amt_rejected)
    rejected = sum(1 for s in a.screened if s.reject)
    excluded = sum(1 for s in a.screened if not s.reject and s.exclude)
    used = [s for s in a.screened if s.used]
    workers = len({s.assignment.worker_id for s in used})
    blank = sum(len(s.blank) for s in used)
    lines = [f"{a.design.label} {a.batch}: {total} assignments: {len(used)} used ({workers} listeners), "
             f"{rejected} to reject, {excluded} approved but not used, {amt_rejected} rejected on AMT before",
             f"exclusion policy: --exclude {a.rules.exclude} ({_POLICY[a.rules.exclude]}); "
             f"blank items dropped from used assignments: {blank}",
             f"review upload {a.approve_reject} (summary {a.summary})"]
    reasons: dict[str, int] = defaultdict(int)
    for s in a.screened:
        for r in s.reject + s.exclude:
            reasons[r.split(":")[0].split(" (")[0]] += 1
    lines += [f"  {n} x {r}" for r, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))]
    lines.append("")
    if a.design.kind == "mos":
        lines.append(f"{'test':<6} {'system':<20} {'MOS':>6}  {'95% CI':<16} {'n':>5} {'listeners':>9}")
        for r in a.rows:
            lines.append(f"{a.design.label:<6} {r['system']:<20} {r['mean']:>6.2f}  "
                         f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]{'':<3} {r['n']:>5} {r['n_workers']:>9}")
        for role, label in ((GOLD_NATURAL, "gold: natural"), (GOLD_ANCHOR, "gold: anchor")):
            if role in a.gold:
                lines.append(f"{'':<6} {label:<20} {a.gold[role].mean:>6.2f}  (n={a.gold[role].n}; screening items)")
    else:
        lines.append(f"{'test':<6} {'pair':<28} {'first':>8} {'second':>8} {'N/P':>8} {'p (t-test)':>12} "
                     f"{'p (binomial)':>14} {'n':>5}")
        for r in a.rows:
            pair = f"{r['system']} vs {r['other']}"
            lines.append(f"{a.design.label:<6} {pair:<28} {r['pref_system']:>7.2f}% {r['pref_other']:>7.2f}% "
                         f"{r['pref_np']:>7.2f}% {'p = ' + format_p(r['p_ttest']):>12} "
                         f"{'p = ' + format_p(r['p_sign']):>14} {r['n']:>5}")
        lines.append("p (t-test): one-sample t-test of the votes (+1 first, -1 second, 0 N/P) against 0, as in "
                     "the CodeSep paper; p (binomial): exact two-sided sign test on the votes that are not N/P")
    lines.append("")
    lines.append("stored in listening_results" if a.stored else "not stored (no results database given or found)")
    return "\n".join(lines)
