"""Render utterances with a voice, trim them, check them, and cache them on disk.

Why a cache: TTS is the slow part (piper in particular), and the planner may ask
for more utterances than it finally uses; a re-run, or a larger request that extends
the same sentence stream, then only renders what is new.

Why the cache is always read back: renders are stored as 16-bit FLAC, and the mixer
only ever sees the decoded file, so a first run and a cached re-run produce
bit-identical data sets.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.data.synth.voices import BY_ID, SAMPLE_RATE
from bench.errors import BenchError

CACHE_VERSION = "1"
"""Bump when rendering or trimming changes, so old cache entries are not reused."""

PAD_S = 0.1
"""Silence kept before the first and after the last active 10 ms frame."""

SILENCE_DB = 40.0
"""Frames more than this below the loudest frame count as silence when trimming."""


@dataclass(frozen=True)
class Render:
    """A cached, trimmed utterance: where it is and how many samples it has."""

    path: Path
    frames: int


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/jsac-bench/tts`` (``~/.cache/...``): outside any data set that ships."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jsac-bench" / "tts"


def cache_path(cache_dir: Path, voice_id: str, text: str) -> Path:
    """Where the render of ``text`` by ``voice_id`` lives in the cache."""
    voice = BY_ID[voice_id]
    key = f"{CACHE_VERSION}|{voice.engine}|{voice.engine_voice}|{text}"
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]
    return cache_dir / voice_id / f"{digest}.flac"


def trim(audio: np.ndarray, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Cut leading and trailing silence, keeping :data:`PAD_S` of it on each side.

    Engines add 0.05-0.3 s of silence of their own, different per engine; trimming
    makes utterance lengths reflect speech, so duration-matched pairs overlap fully.
    """
    hop = rate // 100
    n = len(audio) // hop
    if n == 0:
        return audio
    energy = (audio[: n * hop].astype(np.float64).reshape(n, hop) ** 2).mean(axis=1)
    db = 10.0 * np.log10(energy + 1e-12)
    active = np.flatnonzero(db > db.max() - SILENCE_DB)
    pad = int(PAD_S * rate)
    start = max(0, active[0] * hop - pad)
    end = min(len(audio), (active[-1] + 1) * hop + pad)
    return audio[start:end]


def check_audio(audio: np.ndarray, voice_id: str, text: str) -> None:
    """Refuse silent or absurdly short renders (a broken engine must not make a data set)."""
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    seconds = len(audio) / SAMPLE_RATE
    words = len(text.split())
    if peak < 1e-3:
        raise BenchError(f"voice {voice_id} produced silence for: {text}")
    if seconds < 0.1 * words:
        raise BenchError(f"voice {voice_id} produced {seconds:.2f} s for {words} words: {text}")


def render(voice_id: str, text: str, cache_dir: Path) -> Render:
    """Render (or find in the cache) ``text`` spoken by ``voice_id``; safe across processes."""
    path = cache_path(cache_dir, voice_id, text)
    if not path.exists():
        audio = trim(BY_ID[voice_id].synth(text))
        check_audio(audio, voice_id, text)
        peak = float(np.max(np.abs(audio)))
        if peak > 0.99:  # keep the 16-bit cache from clipping; loudness is set later
            audio = audio * (0.99 / peak)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".flac")
        os.close(fd)
        try:
            sf.write(tmp, audio, SAMPLE_RATE, subtype="PCM_16")
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return Render(path=path, frames=int(sf.info(str(path)).frames))


def load(path: Path) -> np.ndarray:
    """Decode a cached render as float32."""
    audio, _ = sf.read(str(path), dtype="float32")
    return audio
