"""Write ``voices.csv`` and ``README.txt`` next to the synthetic data set.

Why: a data set must say how it was made and who speaks in it. Both files are
rebuilt from what is on disk (every ``transcripts_<split>.csv`` and
``synth_<split>.json``), so generating train after test documents both, including
which voices the splits share.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.data.synth import layout
from bench.data.synth.grammar import SPLITS
from bench.data.synth.voices import BY_ID, VOICES


def write_voices_and_readme(root: Path) -> None:
    """(Re)write ``<root>/voices.csv`` and ``<root>/README.txt``."""
    used: dict[str, dict[str, int]] = {}  # voice id -> split -> utterances
    for split in SPLITS:
        path = layout.transcripts_csv(root, split)
        if path.exists():
            for row in layout.read_csv(path):
                used.setdefault(row["voice"], {}).setdefault(split, 0)
                used[row["voice"]][split] += 1
    rows = []
    for voice in VOICES:
        if voice.id in used:
            splits = " ".join(s for s in SPLITS if s in used[voice.id])
            rows.append((voice.speaker_id, voice.id, voice.engine, voice.engine_voice, voice.sex,
                         voice.group, splits))
    layout.write_csv(root / "voices.csv", layout.VOICE_COLUMNS, rows)

    summaries = {}
    for split in SPLITS:
        path = root / f"synth_{split}.json"
        if path.exists():
            summaries[split] = json.loads(path.read_text(encoding="utf-8"))
    (root / "README.txt").write_text(_readme(used, summaries), encoding="utf-8")


def _readme(used: dict[str, dict[str, int]], summaries: dict[str, dict]) -> str:
    splits = [s for s in SPLITS if s in summaries]
    lines = [
        "Synthetic Libri2Mix (jsac-bench)",
        "================================",
        "",
        "Two-speaker mixtures of text-to-speech utterances, laid out exactly like",
        "Libri2Mix wav16k/min (LibriMix recipe: sources loudness-normalised to a uniform",
        "random -33..-25 LUFS with a BS.1770 meter, summed, scaled down together if the",
        "mixture peak exceeds 0.9, then cut to the shorter source).",
        "Sentences come from jsac-bench's own seeded grammar; each sentence belongs to one",
        "split by a hash of its text, so splits never share a sentence. The two sources of",
        "a mixture are different speakers and differ in length by at most 0.3 s.",
        "",
        "Files: wav16k/min/metadata/mixture_<split>_mix_clean.csv (Libri2Mix metadata),",
        "wav16k/min/<split>/{mix_clean,s1,s2}/, transcripts_<split>.csv (utterance_id,",
        "speaker_id, voice, engine, sex, text), synth_<split>_mixtures.csv (per-mixture",
        "loudness), synth_<split>.json (command and summary), voices.csv.",
        "",
        "Splits",
        "------",
    ]
    for split in splits:
        s = summaries[split]
        lines += [
            f"{split}: {s['mixtures']} mixtures, {s['hours']:.3f} h, "
            f"{s['seconds_min']:.2f}-{s['seconds_max']:.2f} s each, "
            f"sources {s['source_lufs_min']:.1f} to {s['source_lufs_max']:.1f} LUFS, "
            f"{s['rescaled_mixtures']} rescaled to avoid clipping",
            f"    {s['command']}",
        ]
    lines += ["", "Voices (utterances per split)", "-----------------------------"]
    header = f"{'speaker':>7}  {'voice':<17} {'engine':<9} {'engine voice':<22} sex  " + "  ".join(
        f"{s:>5}" for s in splits
    )
    lines.append(header)
    for voice in VOICES:
        if voice.id not in used:
            continue
        counts = "  ".join(f"{used[voice.id].get(s, 0):>5}" for s in splits)
        lines.append(f"{voice.speaker_id:>7}  {voice.id:<17} {voice.engine:<9} {voice.engine_voice:<22} "
                     f"{voice.sex:<3}  {counts}")
    lines += ["", "Speakers are disjoint between test and train/dev (as in Libri2Mix): the test split "
                  "uses only the test-only voices (bench.data.synth.voices.TEST_GROUPS), which no "
                  "training or dev split ever contains; sentences are disjoint too."]
    same = sorted({BY_ID[v].group for v in used if sum(BY_ID[w].group == BY_ID[v].group for w in used) > 1})
    if same:
        lines.append("Voices built from one recorded person (never mixed together): "
                     + "; ".join(", ".join(v for v in used if BY_ID[v].group == g) for g in same) + ".")
    return "\n".join(lines) + "\n"
