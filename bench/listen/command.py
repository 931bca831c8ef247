"""``bench listen``: ``export`` an AMT batch from stored estimates, ``serve`` it in a lab, ``analyze`` results.

Kept light at import (the CLI builds every parser at start-up); the work happens in
:mod:`bench.listen.export`, :mod:`bench.listen.lab` and :mod:`bench.listen.analyze`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.listen.design import TESTS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="listen_command", required=True)

    p = sub.add_parser("export", help="blinded AMT batch (public/: audio, hits.csv, hit.html; secret/: the key)")
    p.add_argument("--test", required=True, choices=list(TESTS), help="nmos, smos (ratings) or nabx, sabx (pairs)")
    p.add_argument("--out", required=True, type=Path, help="new or empty output folder")
    p.add_argument("--base-url", required=True, help="URL where the contents of audio/ will be served")
    p.add_argument("--systems", help="MOS tests: comma-separated systems to rate, e.g. codesep,fstc@1")
    p.add_argument("--pair", action="append", default=[], metavar="FIRST:SECOND",
                   help="ABX tests: systems to compare, e.g. codesep:fstc@2 (repeatable)")
    p.add_argument("--results", type=Path, default=Path("results"), help="results directory (default ./results)")
    p.add_argument("--dataset", help="dataset key prefix or name (default: that of the latest run)")
    p.add_argument("--samples", type=int, default=20, help="utterances per system (default 20, as the paper)")
    p.add_argument("--seed", type=int, default=0, help="seed of sampling, ordering, A/B positions and names")
    p.add_argument("--items-per-hit", type=int, default=10, help="test items per HIT, gold items come on top")
    p.add_argument("--assignments", type=int, default=10, help="assignments per HIT (AMT MaxAssignments)")
    p.add_argument("--max-hits-per-worker", type=int, default=4, help="HITs one listener may contribute")
    p.add_argument("--lufs", type=float, default=-26.0, help="loudness of every clip (BS.1770, default -26)")
    p.add_argument("--peak-dbfs", type=float, default=-1.0, help="peak ceiling after normalisation (default -1)")

    p = sub.add_parser("analyze", help="screen AMT results, compute MOS/ABX statistics, store them")
    p.add_argument("--results", required=True, type=Path, help="AMT's Batch_<id>_batch_results.csv")
    p.add_argument("--key", required=True, type=Path, help="SECRET_key.csv of the export")
    p.add_argument("--store", type=Path, default=Path("results"),
                   help="results directory whose database gets the numbers (default ./results)")
    p.add_argument("--out", type=Path,
                   help="AMT review upload: the results file with Approve/Reject filled (default: "
                        "approve_reject.csv beside --results; a compact <name>_summary.csv goes beside it)")
    p.add_argument("--ci", default="t", choices=["t", "crowdmos"],
                   help="MOS interval: Student t over ratings, or the CrowdMOS worker/sentence model")
    p.add_argument("--max-hits-per-worker", type=int, help="default: the export's setting")
    p.add_argument("--min-time-factor", type=float, default=1.0,
                   help="reject work times below this fraction of the HIT's audio length (default 1)")
    p.add_argument("--exclude", default="worker", choices=["worker", "assignment"],
                   help="worker (default): drop every assignment of a worker who failed a check in any of them; "
                        "assignment: drop only the failing assignments")
    p.add_argument("--max-blank-share", type=float, default=0.2,
                   help="reject an assignment with more than this share of its items blank (default 0.2); "
                        "fewer blank items are dropped alone")
    p.add_argument("--no-play-check", dest="check_plays", action="store_false",
                   help="skip the played-to-the-end check (results without Answer.ended_* columns)")

    p = sub.add_parser("serve", help="lab mode: serve an exported batch on this machine, answers in AMT's format")
    p.add_argument("folder", type=Path, help="folder written by `bench listen export`")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for a LAN)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    for p in sub.choices.values():
        _add_common_here(p)


def _add_common_here(parser: argparse.ArgumentParser) -> None:
    """``--quiet``/``-v`` after the sub-command too; SUPPRESS keeps a value given before it."""
    parser.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="no summary lines")
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging")


def run(args: argparse.Namespace) -> int:
    if args.listen_command == "export":
        return _run_export(args)
    if args.listen_command == "serve":
        return _run_serve(args)
    return _run_analyze(args)


def _run_export(args: argparse.Namespace) -> int:
    from bench.config import split_names
    from bench.listen.export import ExportRequest, export, parse_pair

    request = ExportRequest(
        test=args.test, out=args.out, base_url=args.base_url, results=args.results,
        systems=split_names(args.systems) if args.systems else [], pairs=[parse_pair(p) for p in args.pair],
        dataset=args.dataset, samples=args.samples, seed=args.seed, items_per_hit=args.items_per_hit,
        assignments=args.assignments, max_hits_per_worker=args.max_hits_per_worker, target_lufs=args.lufs,
        peak_dbfs=args.peak_dbfs)
    summary = export(request)
    if not args.quiet:
        print(f"{summary.test.upper()}: {summary.num_hits} HITs x {summary.slots_per_hit} items, "
              f"{summary.num_clips} blinded clips from {summary.dataset_name} (natural speech from "
              f"{summary.natural_origin}); {summary.peak_limited} clips peak-limited below the loudness target.")
        print(f"Folder {summary.out}: upload public/audio/ to {request.base_url}, public/hits.csv and "
              f"public/hit.html to AMT (see README.txt); keep secret/ private.")
    return 0


def _run_analyze(args: argparse.Namespace) -> int:
    from bench.listen.analyze import AnalyzeRequest, analyze, format_analysis

    analysis = analyze(AnalyzeRequest(results=args.results, key=args.key, store=args.store, out=args.out,
                                      ci=args.ci, max_hits_per_worker=args.max_hits_per_worker,
                                      min_time_factor=args.min_time_factor, exclude=args.exclude,
                                      max_blank_share=args.max_blank_share, check_plays=args.check_plays))
    print(format_analysis(analysis))
    return 0


def _run_serve(args: argparse.Namespace) -> int:
    from bench.listen.lab import serve

    serve(args.folder, host=args.host, port=args.port,
          announce=None if args.quiet else (lambda line: print(line, flush=True)))
    return 0
