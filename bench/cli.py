"""The ``bench`` command line: a thin shell over library functions.

Each sub-command parses its arguments and calls one function of the library; user
errors (:class:`~bench.errors.BenchError`) are printed as one line with exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, Sequence

from bench.errors import BenchError

log = logging.getLogger("bench")
DEFAULT_RESULTS = Path("results")


# -- shared option groups ---------------------------------------------------------------------
def add_dataset_arguments(parser: argparse.ArgumentParser, with_data: bool = True) -> None:
    group = parser.add_argument_group("data")
    if with_data:
        group.add_argument("--data", default="embedded",
                           help="'embedded' (the shipped synthetic set) or a Libri2Mix root (default: embedded)")
    group.add_argument("--sample-rate", type=int, default=16000, choices=[8000, 16000])
    group.add_argument("--mode", default="min", choices=["min", "max"])
    group.add_argument("--mix-type", default="mix_clean", choices=["mix_clean", "mix_both", "mix_single"])
    group.add_argument("--split", default="test")
    group.add_argument("--limit", type=int, help="use only N mixtures")
    group.add_argument("--subset-seed", type=int, help="pick the --limit mixtures at random with this seed")
    group.add_argument("--ids", type=Path, help="file with one mixture_ID per line")
    group.add_argument("--segment", default="full", choices=["full", "first3s"],
                       help="evaluate whole mixtures or their first 3 s (TokenSplit protocol)")
    group.add_argument("--librispeech", type=Path, help="LibriSpeech root for transcripts")


def dataset_spec(args: argparse.Namespace, root: str | None):
    from bench.data.libri2mix import DatasetSpec

    if args.limit is not None and args.limit <= 0:
        raise BenchError(f"--limit must be positive, got {args.limit}")
    return DatasetSpec(
        root=None if root in (None, "embedded") else Path(root),
        sample_rate=args.sample_rate, mode=args.mode, mix_type=args.mix_type, split=args.split,
        limit=args.limit, subset_seed=args.subset_seed, ids_file=args.ids, segment=args.segment,
        librispeech_root=args.librispeech,
    )


def add_scoring_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``bench run`` and ``bench score``."""
    parser.add_argument("--metrics", help="comma-separated metric names (default: every registered metric "
                                           "but those `bench metrics` marks as run only when named)")
    parser.add_argument("--jobs", type=int,
                        help="metric worker processes (default: one per usable core on CPU, 1 with --device cuda)")
    parser.add_argument("--threads", type=int,
                        help="math threads per metric worker (default: the usable cores / --jobs)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                        help="results directory (default ./results)")


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    from bench.run.executors import EXECUTORS

    parser.add_argument("--executor", default="local", choices=EXECUTORS,
                        help="local (default) or ray: tasks on a Ray cluster (needs a shared filesystem)")
    parser.add_argument("--address", help="Ray cluster address (default: start a local Ray on loopback)")


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bars, warnings only")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


# -- commands ---------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from bench.catalog import METRICS, default_metrics
    from bench.config import load_config, split_names
    from bench.data.libri2mix import open_dataset
    from bench.run.parallelism import choose_parallelism
    from bench.run.runner import RunRequest, run
    from bench.run.sharding import parse_shard
    from bench.store import Store

    parallel = choose_parallelism(args.jobs, args.threads, args.device)
    check_device(args.device)
    config = load_config(args.config)
    systems = split_names(args.systems)
    metrics = split_names(args.metrics) if args.metrics else default_metrics()
    for name in metrics:
        METRICS.entry(name)  # unknown names fail here, with the list of what exists
    dataset = open_dataset(dataset_spec(args, args.data))
    if len(dataset) == 0:
        raise BenchError(f"{dataset.name}: the selection holds no mixtures")
    store = Store(args.results)
    request = RunRequest(systems=systems, metrics=metrics, device=args.device, jobs=parallel.jobs,
                         threads=parallel.threads, parallelism=parallel, argv=sys.argv,
                         metrics_enabled=not args.no_metrics,
                         shard=parse_shard(args.shard) if args.shard else None, executor=args.executor,
                         ray_address=args.address)
    summary = run(request, dataset, store, config)
    if not args.quiet:
        done = ", ".join(f"{k}: {v} new" for k, v in summary.separated.items())
        print(f"run {summary.run_id}: {len(dataset)} mixtures ({done}); {summary.scored} scoring tasks "
              f"on {parallel.describe()}; results in {store.root}, log in {summary.run_dir}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from bench.catalog import METRICS, default_metrics
    from bench.config import split_names
    from bench.data.libri2mix import open_dataset
    from bench.run.parallelism import choose_parallelism
    from bench.run.runner import RunRequest, score_stored
    from bench.run.sharding import parse_shard
    from bench.store import open_existing

    parallel = choose_parallelism(args.jobs, args.threads, args.device)
    check_device(args.device)
    metrics = split_names(args.metrics) if args.metrics else default_metrics()
    for name in metrics:
        METRICS.entry(name)
    store = open_existing(args.results)
    dataset = open_dataset(dataset_spec(args, args.data))
    request = RunRequest(systems=split_names(args.systems) if args.systems else [], metrics=metrics,
                         jobs=parallel.jobs, threads=parallel.threads, parallelism=parallel, device=args.device,
                         argv=sys.argv,
                         shard=parse_shard(args.shard) if args.shard else None, executor=args.executor,
                         ray_address=args.address)
    scored = score_stored(request, dataset, store)
    if not args.quiet:
        print(f"{scored} mixtures scored on {parallel.describe()}; results in {store.root}")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from bench.run.merge import merge_results

    summary = merge_results(args.inputs, args.results)
    rows = ", ".join(f"{table} +{n}" for table, n in summary.rows.items() if n)
    print(f"merged {summary.sources} result directories into {args.results}: {rows}; {summary.files} audio files")
    return 0


def check_device(device: str) -> None:
    if device == "cpu":
        return
    if not device.startswith("cuda"):
        raise BenchError(f"--device must be cpu or cuda[:N], got {device!r}")
    import torch

    if not torch.cuda.is_available():
        raise BenchError(f"--device {device}: CUDA is not available on this machine")


def cmd_report(args: argparse.Namespace) -> int:
    from bench.store import open_existing

    store = open_existing(args.results)
    dataset_key = store.find_dataset(args.dataset)
    if args.table is None:
        from bench.report.plain import build_plain_report, render

        print(render(build_plain_report(store, dataset_key), args.format))
        return 0
    from bench.config import load_config
    from bench.report.layouts import layout_for
    from bench.report.render import to_csv, to_latex, to_markdown, write_table_files
    from bench.report.tables import build_table

    config = load_config(args.config)
    layout = layout_for(args.table, config)
    table = build_table(store, layout, dataset_key or latest_key(store), with_paper=args.paper,
                        resamples=args.resamples, seed=args.seed, config=config)
    paths = write_table_files(table, args.out or store.root, ci=args.ci)
    text = {"md": to_markdown(table, args.ci), "csv": to_csv(table), "json": None}.get(args.format)
    print(text if text is not None else table_json(table))
    if not args.quiet:
        print("\nwrote " + ", ".join(str(p) for p in paths), file=sys.stderr)
    return 0


def latest_key(store) -> str:
    key = store.latest_dataset_key()
    if key is None:
        raise BenchError(f"{store.db_path}: no results yet (run `bench run` first)")
    return key


def table_json(table) -> str:
    import json

    from bench.report.tables import values_frame

    return json.dumps(json.loads(values_frame(table).to_json(orient="records")), indent=2)


def cmd_plot(args: argparse.Namespace) -> int:
    from bench.report.plots import per_utterance, rate_quality
    from bench.store import open_existing

    store = open_existing(args.results)
    dataset_key = store.find_dataset(args.dataset) or latest_key(store)
    out_dir = args.out or store.root
    if args.plot == "rate-quality":
        from bench.report.plots import DEFAULT_RATE_METRICS

        metrics = DEFAULT_RATE_METRICS
        if args.columns:
            metrics = tuple((c, c) for c in args.columns.split(","))
        plotted = rate_quality(store, dataset_key, out_dir / "rate_quality", metrics=metrics)
    else:
        plotted = per_utterance(store, dataset_key, args.metric, out_dir / f"per_utterance_{args.metric}",
                                kind=args.kind)
    if plotted.note is not None:
        print(f"Mixtures: {plotted.note}.")
    print("wrote " + ", ".join(str(p) for p in plotted.paths))
    return 0


def cmd_systems(args: argparse.Namespace) -> int:
    from bench.catalog import SYSTEMS
    from bench.config import load_config, resolve_system_spec

    config = load_config(args.config)
    names = [name for family in SYSTEMS.names() for name in SYSTEMS.entry(family).meta.get("listed", [family])]
    names += [name for name in config.systems if name not in names]
    print(f"{'system':<26} {'family':<26} {'nominal kbps':>12}  weights")
    for name in names:
        spec = resolve_system_spec(name, config)
        family, rate = spec.family, spec.kbps
        try:
            cls = SYSTEMS.entry(family).load()
            status = cls.weights_status(**spec.options)
            rate = rate if rate is not None else cls.fixed_kbps
        except BenchError as exc:
            status = f"unavailable: {exc}"
        kbps = "unbounded" if rate is None else f"{rate:g}"
        print(f"{name:<26} {family:<26} {kbps:>12}  {status}")
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from bench.catalog import METRICS

    print(f"{'metric':<12} {'columns':<28} {'better':<7} {'intrusive':<9} status")
    for name in METRICS.names():
        try:
            metric = METRICS.entry(name).load()()
            reason = metric.unavailable_reason()
            status = "available" if reason is None else f"unavailable: {reason}"
            if not METRICS.entry(name).meta.get("by_default", True):
                status += " (runs only when named in --metrics)"
            better = "higher" if metric.higher_is_better else "lower"
            print(f"{name:<12} {', '.join(metric.columns()):<28} {better:<7} {str(metric.intrusive):<9} {status}")
        except BenchError as exc:
            print(f"{name:<12} {'?':<28} {'?':<7} {'?':<9} unavailable: {exc}")
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    from bench.data.check import check_dataset

    report = check_dataset(dataset_spec(args, args.root), progress=not args.quiet)
    for warning in report.warnings:
        print(f"warning: {warning}")
    for error in report.errors:
        print(f"error: {error}")
    print(f"{report.num_checked} mixtures checked: {len(report.errors)} errors, {len(report.warnings)} warnings")
    return 1 if report.errors else 0


def cmd_data_separate(args: argparse.Namespace) -> int:
    from bench.data import separate

    return separate.run(args)


def cmd_data_synth(args: argparse.Namespace) -> int:
    from bench.data.synth import command

    return command.run(args)


# -- parser -----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description="Benchmark joint separation-and-compression systems.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="separate and score; resumes where a previous run stopped")
    p.add_argument("--systems", required=True, help="comma-separated names, e.g. mixture,clean or fstc@2")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]: systems, DNSMOS and Whisper")
    add_scoring_arguments(p)
    p.add_argument("--config", type=Path, help="bench.toml (default: ./bench.toml if present)")
    p.add_argument("--no-metrics", action="store_true", help="stop after separation (score later: bench score)")
    p.add_argument("--shard", help="k/n: handle only the k-th of n round-robin slices of the mixtures")
    add_executor_arguments(p)
    add_dataset_arguments(p)
    add_common(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("score", help="compute metrics for estimates already stored")
    p.add_argument("--systems", help="comma-separated stored system names (default: all stored)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]: where DNSMOS and Whisper run")
    add_scoring_arguments(p)
    p.add_argument("--shard", help="k/n: score only the k-th of n slices")
    add_executor_arguments(p)
    add_dataset_arguments(p)
    add_common(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("merge", help="combine shard result directories (refuses inconsistent ones)")
    p.add_argument("inputs", nargs="+", type=Path, help="result directories of the shards")
    p.add_argument("--results", type=Path, required=True, help="output directory")
    add_common(p)
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("report", help="per-system means of every stored metric, or a paper table (--table)")
    p.add_argument("--table", choices=["1", "2", "3", "4", "tokensplit"],
                   help="print a paper table and write results/table<N>.{md,tex,csv}")
    p.add_argument("--format", default="md", choices=["md", "csv", "json"])
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    p.add_argument("--dataset", help="dataset key prefix or name (default: that of the latest run)")
    p.add_argument("--ci", action=argparse.BooleanOptionalAction, default=True,
                   help="print 95%% bootstrap confidence intervals (default on)")
    p.add_argument("--paper", action="store_true", help="add the papers' published values beside ours")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--out", type=Path, help="where table files go (default: the results directory)")
    p.add_argument("--config", type=Path, help="bench.toml with [tables.N] rows")
    add_common(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("plot", help="rate-quality and per-utterance plots")
    p.add_argument("plot", choices=["rate-quality", "per-utterance"])
    p.add_argument("--metric", default="dnsmos_p808", help="column for per-utterance (e.g. dnsmos_p808, sisnri_db)")
    p.add_argument("--kind", default="box", choices=["box", "violin"])
    p.add_argument("--columns", help="rate-quality columns (default utmos,dnsmos_p808,dwer,stoi)")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    p.add_argument("--dataset", help="dataset key prefix or name (default: that of the latest run)")
    p.add_argument("--out", type=Path, help="output directory (default: the results directory)")
    add_common(p)
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("systems", help="list registered systems, their bitrates and weights")
    p.add_argument("--config", type=Path)
    add_common(p)
    p.set_defaults(func=cmd_systems)

    p = sub.add_parser("metrics", help="list registered metrics and whether they can run here")
    add_common(p)
    p.set_defaults(func=cmd_metrics)

    data = sub.add_parser("data", help="dataset tools").add_subparsers(dest="data_command", required=True)
    p = data.add_parser("check", help="validate a Libri2Mix tree (every file)")
    p.add_argument("root", help="Libri2Mix root, or 'embedded'")
    add_dataset_arguments(p, with_data=False)
    add_common(p)
    p.set_defaults(func=cmd_data_check)

    p = data.add_parser("synth", help="generate a synthetic Libri2Mix-format set with TTS voices")
    _add_synth_arguments(p)
    add_common(p)
    p.set_defaults(func=cmd_data_synth)

    p = data.add_parser("separate", help="write a separator's estimates of a split's mixtures (codec training material)")
    _add_separate_arguments(p)
    add_dataset_arguments(p, with_data=False)
    add_common(p)
    p.set_defaults(func=cmd_data_separate)

    _add_train_commands(sub)
    _add_module_command(sub, "assets", "bench.assets", "model weights: status and download")
    _add_module_command(sub, "listen", "bench.listen.command", "listening tests: export AMT batches, analyze results")
    return parser


def _add_train_commands(sub) -> None:
    """``bench train <recipe>``: one sub-command per registered training recipe."""
    import importlib

    from bench.catalog import RECIPES

    train = sub.add_parser("train", help="train the project's models (recipes)")
    recipes = train.add_subparsers(dest="recipe", required=True)
    for name in RECIPES.names():
        entry = RECIPES.entry(name)
        module = importlib.import_module(str(entry.target).partition(":")[0])
        p = recipes.add_parser(name, help=(module.__doc__ or name).strip().splitlines()[0])
        module.add_arguments(p)
        add_common(p)
        p.set_defaults(func=module.run)


def _add_module_command(sub, name: str, module_name: str, help_text: str) -> None:
    """A sub-command implemented by a library module's ``add_arguments``/``run`` (if installed)."""
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return
    p = sub.add_parser(name, help=help_text)
    module.add_arguments(p)
    add_common(p)
    p.set_defaults(func=module.run)


def _add_separate_arguments(parser: argparse.ArgumentParser) -> None:
    from bench.data import separate

    separate.add_arguments(parser)


def _add_synth_arguments(parser: argparse.ArgumentParser) -> None:
    from bench.data.synth import command

    command.add_arguments(parser)


class OneLineFormatter(logging.Formatter):
    """Console records without tracebacks: those go to the run's log file only."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text
        record.exc_info, record.exc_text = None, None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text = saved


_CONSOLE: logging.Handler | None = None


def configure_logging(args: argparse.Namespace) -> None:
    """Console: warnings (everything with -v), one line each; the run log file gets INFO and up."""
    global _CONSOLE
    from bench.progress import set_quiet

    set_quiet(getattr(args, "quiet", False))
    verbose = getattr(args, "verbose", False)
    root = logging.getLogger()
    if _CONSOLE is not None:
        root.removeHandler(_CONSOLE)
    _CONSOLE = logging.StreamHandler(sys.stderr)
    _CONSOLE.setLevel(logging.DEBUG if verbose else logging.WARNING)
    _CONSOLE.setFormatter(OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(_CONSOLE)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("matplotlib", "numba", "speechbrain", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # the file system said no (permissions, a full disk, a vanished folder): the file and the
        # reason are the whole story; a traceback would bury them
        if exc.filename is None:
            raise
        log.debug("OS error", exc_info=True)
        print(f"bench: error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; finished work is saved and a re-run resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
