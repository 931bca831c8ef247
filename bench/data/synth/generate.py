"""Plan, render, pair, mix and write one split of the synthetic Libri2Mix data set.

The steps, each in its own module:

1. sentences: :mod:`.grammar` streams the split's own sentences for the seed;
2. voices: sentence ``i`` goes to a voice drawn from a seeded permutation of the
   voices for block ``i // n_voices``, so every voice speaks equally often;
3. rendering: :mod:`.render` speaks, trims and caches each sentence;
4. pairing: :mod:`.pairing` keeps 3-6 s renders and pairs duration neighbours of
   different speakers; a seeded shuffle of the pairs picks the mixtures;
5. mixing: :mod:`.mixing` applies LibriMix's loudness recipe in "min" mode;
6. writing: :mod:`.layout` paths, then :mod:`.docs` for voices.csv and README.txt.

If too few renders fall in 3-6 s or pair up, the plan grows and the loop repeats;
the sentence stream only extends, so earlier renders are reused from the cache.
Everything is a pure function of (split, seed, size, voices): the same command
writes the same files.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from bench.audio import write_audio_atomic
from bench.data.synth import docs, layout
from bench.data.synth.grammar import SPLITS, iter_sentences
from bench.data.synth.mixing import mix_min
from bench.data.synth.pairing import MAX_DIFF_S, Utterance, pair_by_duration
from bench.data.synth.render import default_cache_dir, load, render
from bench.data.synth.voices import BY_ID, SAMPLE_RATE, Voice, select_voices
from bench.errors import BenchError

MIN_SECONDS = 3.0
MAX_SECONDS = 6.0
DEFAULT_MIXTURES = 64
"""Size of a test or dev split when neither a mixture count nor hours are given."""

_SPLIT_CODE = {s: i for i, s in enumerate(SPLITS)}
_MEAN_MIXTURE_S = 4.3  # planning estimate only
_T = TypeVar("_T")
_R = TypeVar("_R")


def synthesize(
    out_root: Path,
    split: str = "test",
    mixtures: int | None = None,
    hours: float | None = None,
    seed: int = 0,
    audio_format: str = "flac",
    voices: Sequence[str] | None = None,
    jobs: int = 1,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> Path:
    """Write one split of a synthetic Libri2Mix under ``out_root``; return the ``Libri2Mix`` root.

    ``mixtures`` or ``hours`` (total mixture duration) sets the size; with neither,
    test and dev get :data:`DEFAULT_MIXTURES` and train is an error. ``voices`` are
    voice ids of :data:`bench.data.synth.voices.VOICES` (default: all available).
    Renders are cached in ``cache_dir`` (default: :func:`render.default_cache_dir`).
    """
    if split not in SPLITS:
        raise BenchError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if mixtures is not None and hours is not None:
        raise BenchError("give either --mixtures or --hours, not both")
    if mixtures is None and hours is None:
        if split == "train":
            raise BenchError("the train split needs a size: --hours H or --mixtures N")
        mixtures = DEFAULT_MIXTURES
    if mixtures is not None and mixtures < 1:
        raise BenchError(f"--mixtures must be at least 1, got {mixtures}")
    if hours is not None and not hours > 0:
        raise BenchError(f"--hours must be positive, got {hours}")
    if audio_format not in ("flac", "wav"):
        raise BenchError(f"--format must be flac or wav, got {audio_format!r}")
    jobs = max(1, int(jobs))
    chosen, skipped = select_voices(voices, split)
    if skipped and progress:
        names = ", ".join(f"{v.id} ({v.install})" for v in skipped)
        print(f"bench data synth: skipping unavailable voices: {names}", file=sys.stderr)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    root = layout.libri2mix_root(Path(out_root).absolute())

    selected = _plan(split, seed, chosen, mixtures, hours, jobs, cache, progress)
    stats = _write_split(root, split, seed, selected, audio_format, jobs, progress)

    command = _command(Path(out_root), split, mixtures, hours, seed, audio_format, voices)
    summary = {"command": command, "seed": seed, "split": split, "format": audio_format, **stats}
    with open(root / f"synth_{split}.json", "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
        f.write("\n")
    docs.write_voices_and_readme(root)
    return root


# --- planning ------------------------------------------------------------------------


def _plan(
    split: str,
    seed: int,
    chosen: list[Voice],
    mixtures: int | None,
    hours: float | None,
    jobs: int,
    cache: Path,
    progress: bool,
) -> list[tuple[Utterance, Utterance]]:
    """Render enough utterances and pick the mixtures' pairs of utterances."""
    wanted = mixtures if mixtures is not None else math.ceil(hours * 3600 / _MEAN_MIXTURE_S)  # type: ignore[operator]
    target_frames = None if hours is None else int(hours * 3600 * SAMPLE_RATE)
    n_utts = math.ceil(2.6 * wanted) + 2 * len(chosen)
    texts: list[str] = []
    stream = iter_sentences(split, seed)
    rendered: list[Utterance] = []
    assign = _VoiceAssigner(chosen, split, seed)
    for _attempt in range(8):
        while len(texts) < n_utts:
            texts.append(next(stream))
        todo = [(i, texts[i], assign.voice(i)) for i in range(len(rendered), n_utts)]
        jobs_args = [(v.id, text, cache) for _, text, v in todo]
        renders = _map(_render_job, jobs_args, jobs, progress, f"{split}: render", "utt")
        for (i, text, voice), r in zip(todo, renders):
            rendered.append(Utterance(i, assign.utt_id(i), voice.id, text, r.path, r.frames))
        pool = [u for u in rendered if MIN_SECONDS * SAMPLE_RATE <= u.frames <= MAX_SECONDS * SAMPLE_RATE]
        rng = np.random.default_rng([seed, _SPLIT_CODE[split], 1])
        pairs = pair_by_duration(pool, int(MAX_DIFF_S * SAMPLE_RATE), rng)
        pairs = [pairs[k] for k in rng.permutation(len(pairs))]
        if target_frames is None:
            if len(pairs) >= wanted:
                return pairs[:wanted]
        else:
            total = 0
            for k, (a, b) in enumerate(pairs):
                total += min(a.frames, b.frames)
                if total >= target_frames:
                    return pairs[: k + 1]
        if rendered and len(pool) < 0.2 * len(rendered):
            break  # the voices speak too fast or slow for 3-6 s; growing will not help
        n_utts = math.ceil(n_utts * 1.5)
    raise BenchError(
        f"could not make enough 3-6 s mixtures: {len(pool)} of {len(rendered)} renders in range; "
        "try other --voices"
    )


class _VoiceAssigner:
    """Sentence ``i`` -> voice, balanced: each block of ``len(voices)`` sentences uses each voice once."""

    def __init__(self, voices: list[Voice], split: str, seed: int) -> None:
        self.voices = voices
        self.split = split
        self.seed = seed
        self._order: list[int] = []
        self._counter: list[int] = []  # how many earlier sentences the same voice spoke
        self._seen = [0] * len(voices)

    def _extend(self, upto: int) -> None:
        while len(self._order) <= upto:
            block = len(self._order) // len(self.voices)
            rng = np.random.default_rng([self.seed, _SPLIT_CODE[self.split], 0, block])
            for k in rng.permutation(len(self.voices)):
                self._order.append(int(k))
                self._counter.append(self._seen[k])
                self._seen[k] += 1

    def voice(self, i: int) -> Voice:
        self._extend(i)
        return self.voices[self._order[i]]

    def utt_id(self, i: int) -> str:
        """``<speaker>-<chapter>-<n>`` where ``n`` counts this voice's earlier sentences."""
        self._extend(i)
        return layout.utterance_id(self.voices[self._order[i]].speaker_id, self.split, self._counter[i])


def _render_job(args: tuple[str, str, Path]):  # noqa: ANN202 - returns render.Render
    return render(*args)


# --- mixing and writing --------------------------------------------------------------


def _mix_job(args: tuple[int, int, int, str, str, str, list[Path]]) -> dict[str, Any]:
    """Mix one pair and write mix_clean, s1, s2; runs in a worker process."""
    index, seed, split_code, mixture_id, root, ext, paths = args
    sources = [load(p) for p in paths]
    rng = np.random.default_rng([seed, split_code, 2, index])
    mix = mix_min(sources, SAMPLE_RATE, rng)
    split = SPLITS[split_code]
    out = {}
    for sub, audio in zip(layout.SUBDIRS, [mix.mixture, *mix.sources]):
        path = layout.audio_path(Path(root), split, sub, mixture_id, ext)
        write_audio_atomic(path, audio, SAMPLE_RATE, subtype="PCM_16")
        out[sub] = str(path)
    return {
        "paths": out,
        "length": len(mix.mixture),
        "target_lufs": mix.target_lufs,
        "final_lufs": mix.final_lufs,
        "rescaled": mix.rescaled,
        "truncated": max(len(s) for s in sources) - len(mix.mixture),
    }


def _write_split(
    root: Path,
    split: str,
    seed: int,
    pairs: list[tuple[Utterance, Utterance]],
    ext: str,
    jobs: int,
    progress: bool,
) -> dict[str, Any]:
    """Mix every pair, write the audio and the split's CSVs; return summary statistics."""
    pairs = sorted(pairs, key=lambda p: layout.mixture_id(p[0].utt_id, p[1].utt_id))
    ids = [layout.mixture_id(a.utt_id, b.utt_id) for a, b in pairs]
    args = [
        (k, seed, _SPLIT_CODE[split], mid, str(root), ext, [a.path, b.path])
        for k, (mid, (a, b)) in enumerate(zip(ids, pairs))
    ]
    results = _map(_mix_job, args, jobs, progress, f"{split}: mix", "mix")
    layout.remove_stale_audio(root, split, set(ids))

    layout.write_csv(
        layout.metadata_csv(root, split),
        layout.METADATA_COLUMNS,
        [
            (mid, r["paths"]["mix_clean"], r["paths"]["s1"], r["paths"]["s2"], r["length"])
            for mid, r in zip(ids, results)
        ],
    )
    utts = sorted({u.utt_id: u for pair in pairs for u in pair}.values(), key=lambda u: u.utt_id)
    layout.write_csv(
        layout.transcripts_csv(root, split),
        layout.TRANSCRIPT_COLUMNS,
        [(u.utt_id, BY_ID[u.voice_id].speaker_id, u.voice_id, BY_ID[u.voice_id].engine,
          BY_ID[u.voice_id].sex, u.text) for u in utts],
    )
    layout.write_csv(
        layout.mixtures_info_csv(root, split),
        ("mixture_ID", "voice_1", "voice_2", "sex_1", "sex_2", "target_lufs_1", "target_lufs_2",
         "final_lufs_1", "final_lufs_2", "rescaled", "truncated_samples", "length"),
        [
            (mid, a.voice_id, b.voice_id, BY_ID[a.voice_id].sex, BY_ID[b.voice_id].sex,
             *(f"{x:.2f}" for x in r["target_lufs"]), *(f"{x:.2f}" for x in r["final_lufs"]),
             int(r["rescaled"]), r["truncated"], r["length"])
            for mid, (a, b), r in zip(ids, pairs, results)
        ],
    )
    lengths = np.array([r["length"] for r in results]) / SAMPLE_RATE
    final = np.array([x for r in results for x in r["final_lufs"]])
    truncated = np.array([r["truncated"] for r in results]) / SAMPLE_RATE
    per_voice: dict[str, int] = {}
    for u in utts:
        per_voice[u.voice_id] = per_voice.get(u.voice_id, 0) + 1
    return {
        "mixtures": len(ids),
        "hours": round(float(lengths.sum()) / 3600, 4),
        "seconds_min": round(float(lengths.min()), 3),
        "seconds_max": round(float(lengths.max()), 3),
        "seconds_mean": round(float(lengths.mean()), 3),
        "source_lufs_min": round(float(final.min()), 2),
        "source_lufs_max": round(float(final.max()), 2),
        "rescaled_mixtures": int(sum(r["rescaled"] for r in results)),
        "truncated_seconds_max": round(float(truncated.max()), 3),
        "truncated_seconds_mean": round(float(truncated.mean()), 3),
        "utterances_per_voice": dict(sorted(per_voice.items())),
    }


def _command(
    out: Path, split: str, mixtures: int | None, hours: float | None, seed: int, fmt: str,
    voices: Sequence[str] | None,
) -> str:
    """The ``bench data synth`` command line that reproduces this split."""
    parts = ["bench", "data", "synth", "--out", str(out), "--split", split]
    parts += ["--mixtures", str(mixtures)] if mixtures is not None else ["--hours", f"{hours:g}"]
    parts += ["--seed", str(seed)]
    if fmt != "flac":
        parts += ["--format", fmt]
    if voices:
        parts += ["--voices", ",".join(voices)]
    return " ".join(parts)


def _map(
    fn: Callable[[_T], _R], items: list[_T], jobs: int, progress: bool, desc: str, unit: str
) -> list[_R]:
    """``[fn(x) for x in items]``, in ``jobs`` processes, with a tqdm bar (ETA) if ``progress``."""
    from tqdm import tqdm

    if not items:
        return []
    bar = tqdm(total=len(items), desc=desc, unit=unit, disable=not progress, dynamic_ncols=True)
    try:
        if jobs == 1:
            out = []
            for item in items:
                out.append(fn(item))
                bar.update()
            return out
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results: Iterator[_R] = pool.map(fn, items, chunksize=max(1, min(16, len(items) // (4 * jobs))))
            out = []
            for r in results:
                out.append(r)
                bar.update()
            return out
    finally:
        bar.close()
