"""``bench listen export``: stored estimates -> an upload-ready, blinded AMT batch folder.

Layout of the output folder (the secret files live apart, so uploading ``public/`` cannot leak them)::

    public/audio/<token>.wav     blinded, loudness-normalised 16-bit clips (upload to --base-url)
    public/hits.csv              AMT batch input: one row per HIT, columns = the page's placeholders
    public/hit.html              the HIT page (paste as the project's layout source)
    README.txt                   upload and review steps, numbers of HITs and listeners
    secret/SECRET_key.csv        token -> role, system, mixture, source (never upload)
    secret/SECRET_export.json    the settings of this export, read back by ``bench listen analyze``

The folder must be new or empty: mixing clips of two exports would break the key.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from bench.errors import BenchError
from bench.listen import blinding
from bench.listen.anchors import make_anchor
from bench.listen.clips import Clip, StoredClips
from bench.listen.design import TestDesign, field_name, get_test
from bench.listen.hit_page import render_page, template_text
from bench.listen.hits import GOLD_ANCHOR, STIMULUS, ClipId, Hit, compose
from bench.listen.loudness import DEFAULT_PEAK_DBFS, DEFAULT_TARGET_LUFS, normalise
from bench.listen.names import (AUDIO_DIR, HIT_REF, HITS_NAME, PAGE_NAME, PUBLIC_DIR, REVIEW_NAME,
                                 REVIEW_SUMMARY_SUFFIX, SECRET_DIR, key_path, public_dir, secret_dir,
                                 settings_path)
from bench.listen.sampling import ReferencePicker, gold_bases, partner, sample_items
from bench.store import Store, now, open_existing

KEY_COLUMNS = ["token", "file", "url", "test", "role", "system", "mixture_id", "source", "seconds",
               "lufs_before", "lufs_after", "peak_limited"]


@dataclass
class ExportRequest:
    """What to export; ``systems`` for MOS tests, ``pairs`` for ABX tests."""

    test: str
    out: Path
    base_url: str
    results: Path = Path("results")
    systems: list[str] = field(default_factory=list)
    pairs: list[tuple[str, str]] = field(default_factory=list)
    dataset: str | None = None
    samples: int = 20
    seed: int = 0
    items_per_hit: int = 10
    assignments: int = 10
    max_hits_per_worker: int = 4
    target_lufs: float = DEFAULT_TARGET_LUFS
    peak_dbfs: float = DEFAULT_PEAK_DBFS


@dataclass
class ExportSummary:
    out: Path
    test: str
    num_hits: int
    slots_per_hit: int
    num_clips: int
    dataset_name: str
    natural_origin: str
    peak_limited: int


def parse_pair(text: str) -> tuple[str, str]:
    """``codesep:fstc@2`` -> ("codesep", "fstc@2")."""
    parts = [p.strip() for p in text.split(":")]
    if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
        raise BenchError(f"--pair {text!r}: expected two different system names as 'first:second'")
    return parts[0], parts[1]


def _check_request(design: TestDesign, request: ExportRequest) -> list:
    if not request.base_url.startswith(("https://", "http://")):
        raise BenchError(f"--base-url {request.base_url!r}: expected an http(s) URL (where audio/ will be served)")
    for n, value in (("items per HIT", request.items_per_hit), ("assignments per HIT", request.assignments),
                     ("max HITs per worker", request.max_hits_per_worker), ("samples per system", request.samples)):
        if value < 1:
            raise BenchError(f"{n} must be at least 1, got {value}")
    if design.kind == "mos":
        if request.pairs or not request.systems:
            raise BenchError(f"{design.name}: give the rated systems with --systems a,b (not --pair)")
        if len(set(request.systems)) != len(request.systems):
            raise BenchError(f"--systems lists a system twice: {','.join(request.systems)}")
        return list(request.systems)
    if request.systems or not request.pairs:
        raise BenchError(f"{design.name}: give the compared systems with --pair first:second (repeatable)")
    if len(set(request.pairs)) != len(request.pairs):
        raise BenchError("--pair: the same pair is given twice")
    return list(request.pairs)


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BenchError(f"{out}: output folder exists and is not empty (use a new folder per export)")


def _dataset_key(store: Store, prefix: str | None) -> str:
    key = store.find_dataset(prefix) or store.latest_dataset_key()
    if key is None:
        raise BenchError(f"{store.db_path}: no stored estimates (run `bench run` first)")
    return key


def export(request: ExportRequest) -> ExportSummary:
    """Build the whole batch folder; raises :class:`BenchError` on bad input or a blinding leak."""
    design = get_test(request.test)
    conditions = _check_request(design, request)
    _check_out(request.out)
    base_url = request.base_url if request.base_url.endswith("/") else request.base_url + "/"
    store = open_existing(request.results)
    try:
        clips = StoredClips(store, _dataset_key(store, request.dataset))
        systems = list(dict.fromkeys(s for c in conditions for s in ((c,) if isinstance(c, str) else c)))
        candidates = set.intersection(*(clips.items(s) for s in systems))
        rng = np.random.default_rng(int(request.seed))
        samples = sample_items(candidates, request.samples, rng)
        natural = clips.natural_items()
        total = len(conditions) * len(samples)
        num_hits = math.ceil(total / min(request.items_per_hit, total))
        bases = gold_bases(natural, samples, num_hits, rng)
        hits = compose(design, conditions, samples, request.items_per_hit, lambda h: bases[h],
                       ReferencePicker(natural, rng), lambda item: partner(item, natural), rng)
        (public_dir(request.out) / AUDIO_DIR).mkdir(parents=True, exist_ok=True)
        secret_dir(request.out).mkdir(parents=True, exist_ok=True)
        key_rows = _write_audio(request, design, hits, clips, base_url)
        stored_systems, stored_mixtures = clips.system_names(), _stored_mixture_ids(clips)
    finally:
        store.close()
    tokens = {ClipId(r["role"], r["system"], (r["mixture_id"], int(r["source"]) - 1)): r for r in key_rows}
    slots = len(hits[0].slots)
    _write_hits_csv(public_dir(request.out) / HITS_NAME, design, hits, tokens)
    (public_dir(request.out) / PAGE_NAME).write_text(render_page(design, slots), encoding="utf-8")
    _write_key(key_path(request.out), key_rows)
    settings = {**{k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(request).items()},
                "base_url": base_url, "dataset_key": clips.dataset_key, "dataset_name": clips.dataset_name,
                "natural_origin": clips.natural_origin, "num_hits": len(hits), "slots_per_hit": slots,
                "samples_chosen": [[m, j + 1] for m, j in samples], "created": now(), "argv": sys.argv}
    settings_path(request.out).write_text(json.dumps(settings, indent=2), encoding="utf-8")
    (request.out / "README.txt").write_text(readme(design, request, len(hits), slots, clips.natural_origin),
                                            encoding="utf-8")
    _check_blinding(public_dir(request.out), systems + stored_systems,
                    {r["mixture_id"] for r in key_rows} | set(stored_mixtures))
    return ExportSummary(request.out, design.name, len(hits), slots, len(key_rows), clips.dataset_name,
                         clips.natural_origin, sum(1 for r in key_rows if r["peak_limited"] == "1"))


def _stored_mixture_ids(clips: StoredClips) -> list[str]:
    """Every mixture ID the dataset has stored, for the leak scan."""
    return list({m for m, _ in clips.natural_items()})


def _load(clip: ClipId, clips: StoredClips, seed: int, index: int) -> Clip:
    if clip.role == STIMULUS:
        return clips.load(clip.system, clip.item)
    natural = clips.natural(clip.item)
    if clip.role == GOLD_ANCHOR:
        return Clip(make_anchor(natural.audio, natural.sample_rate, seed=seed * 100003 + index), natural.sample_rate)
    return natural


def _write_audio(request: ExportRequest, design: TestDesign, hits: Sequence[Hit], clips: StoredClips,
                 base_url: str) -> list[dict[str, str]]:
    unique = sorted({c for hit in hits for slot in hit.slots for c in slot.clips.values()})
    maker = blinding.TokenMaker(request.seed)
    order = np.random.default_rng([int(request.seed), 0x6F72646572]).permutation(len(unique))
    rows = []
    for index in order:
        clip = unique[int(index)]
        token = maker()
        loaded = _load(clip, clips, request.seed, int(index))
        level = normalise(loaded.audio, loaded.sample_rate, request.target_lufs, request.peak_dbfs)
        name = f"{token}.wav"
        sf.write(public_dir(request.out) / AUDIO_DIR / name, level.audio, loaded.sample_rate, subtype="PCM_16",
                 format="WAV")
        rows.append({"token": token, "file": f"audio/{name}", "url": base_url + name, "test": design.name,
                     "role": clip.role, "system": clip.system, "mixture_id": clip.item[0],
                     "source": str(clip.item[1] + 1), "seconds": f"{loaded.seconds:.3f}",
                     "lufs_before": f"{level.lufs_before:.2f}", "lufs_after": f"{level.lufs_after:.2f}",
                     "peak_limited": "1" if level.peak_limited else "0"})
    return sorted(rows, key=lambda r: r["token"])


def hits_columns(design: TestDesign, slots: int) -> list[str]:
    return [HIT_REF] + [field_name(f, s) for s in range(1, slots + 1) for f in design.clip_fields]


def _write_hits_csv(path: Path, design: TestDesign, hits: Sequence[Hit], tokens: dict[ClipId, dict]) -> None:
    columns = hits_columns(design, len(hits[0].slots))
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for hit in hits:
            row = {HIT_REF: hit.ref}
            for s, slot in enumerate(hit.slots, start=1):
                for fld, clip in slot.clips.items():
                    row[field_name(fld, s)] = tokens[clip]["url"]
            writer.writerow(row)


def _write_key(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=KEY_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _check_blinding(out: Path, systems: list[str], mixture_ids: set[str]) -> None:
    secrets = blinding.secret_strings(systems, mixture_ids)
    texts = blinding.uploaded_texts(out)
    page = texts.pop("hit.html")
    problems = blinding.find_leaks(texts, secrets)
    # the page is rendered without any system information; only words not in its own template could leak
    template = template_text().lower()
    problems += blinding.find_leaks({"hit.html": page}, [s for s in secrets if s not in template])
    if problems:
        raise BenchError(f"{out}: blinding check failed: {'; '.join(problems[:5])}")


def readme(design: TestDesign, request: ExportRequest, num_hits: int, slots: int, natural_origin: str) -> str:
    total = num_hits * request.assignments
    min_listeners = math.ceil(total / request.max_hits_per_worker)
    gold = "2 gold items (a natural clip, expected >= 4; an MNRU anchor, expected <= 2)" if design.kind == "mos" \
        else "1 gold pair (natural speech vs an MNRU anchor; the natural side is the right answer)"
    return f"""Listening test {design.label} -- AMT batch made by jsac-bench (`bench listen export`)
=====================================================================================

Upload only what is in {PUBLIC_DIR}/. NEVER upload {SECRET_DIR}/ (the key and the export settings) or
put it in the web server's folder: it maps the blinded clip names back to systems and utterances.

Contents
  {PUBLIC_DIR}/audio/              the clips: blinded names, {request.target_lufs:g} LUFS (BS.1770), 16-bit WAV
  {PUBLIC_DIR}/hits.csv            AMT batch input, one row per HIT ({num_hits} rows)
  {PUBLIC_DIR}/hit.html            the HIT layout (Crowd HTML Elements <crowd-form>)
  {SECRET_DIR}/SECRET_key.csv      the key (secret)
  {SECRET_DIR}/SECRET_export.json  settings of this export (secret; read by `bench listen analyze`)

Each HIT has {slots} items: {slots - (2 if design.kind == 'mos' else 1)} test items in random order and {gold}.
Natural speech (references, gold items) comes from {natural_origin}.

Steps
1. Upload the *contents* of {PUBLIC_DIR}/audio/ so that each file is served at
   {request.base_url.rstrip('/')}/<name>.wav (HTTPS, Content-Type audio/wav). Open one URL
   from hits.csv in a browser to check.
2. AMT requester site -> Create -> New Project -> "Audio" or "Other" -> Design Layout ->
   Source: replace everything with the contents of {PUBLIC_DIR}/hit.html. Preview shows the page.
3. Properties: Number of assignments per HIT ("MaxAssignments") = {request.assignments}; time allotted
   >= 20 minutes; worker requirements: Location in an English-speaking country (the paper used
   native English listeners), HIT approval rate >= 98 %, number of HITs approved >= 500.
4. Per-worker limit: at most {request.max_hits_per_worker} HITs per worker. AMT has no such cap inside a batch;
   create a custom qualification (e.g. "jsac-{design.name}-done"), require "has not been granted",
   and grant it to workers who reach the limit while the batch runs. `bench listen analyze`
   enforces the limit anyway: assignments beyond a worker's first {request.max_hits_per_worker} (by submit time) are
   approved but not used.
   With {num_hits} HITs x {request.assignments} assignments = {total} assignments, the limit guarantees at least
   {min_listeners} distinct listeners (the CodeSep paper had >= 40).
5. Publish Batch -> upload {PUBLIC_DIR}/hits.csv.
6. When done: Manage -> Results -> Download CSV (Batch_<id>_batch_results.csv), then
     bench listen analyze --results Batch_<id>_batch_results.csv --key {SECRET_DIR}/SECRET_key.csv --store <results dir>
   It screens assignments (gold items, unplayed clips, blank items, all-same answers, too fast,
   duplicates, per-worker limit; by default a worker who fails a check anywhere is dropped from
   the whole test, `--exclude assignment` drops only the failing assignments) and writes
   {REVIEW_NAME} next to the results file.
7. Manage -> Results -> Upload CSV: {REVIEW_NAME} (the results file itself, with "x" in Approve
   or the reason in Reject for every Submitted assignment). {REVIEW_NAME[:-4]}{REVIEW_SUMMARY_SUFFIX} beside it
   lists each assignment's decision and reasons.

In a lab instead of AMT: `bench listen serve <this folder> --port 8080` serves the same page and
clips at http://localhost:8080/ and writes the answers in AMT's results format under lab/.
"""
