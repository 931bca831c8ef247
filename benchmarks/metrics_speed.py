"""Speed of our metric implementations against the reference packages, on the same clips.

Prints, in one run:
  * DNSMOS clips/s: ours (windows of all clips batched into each ONNX call) vs
    speechmos's ``dnsmos.run`` called clip by clip (as papers' scripts do), and the ratio;
  * SI-SNR clips/s: ours (float64 numpy) vs torchmetrics'
    ``scale_invariant_signal_noise_ratio``, and the ratio.

Not a test (timings vary by machine).  Needs the reference packages:

    .venv/bin/pip install -e '.[reference]'      # speechmos + librosa + torchmetrics
    .venv/bin/python benchmarks/metrics_speed.py --clips 16 --seconds 6

Clips are the embedded set's sources when present, else synthetic speech-like signals.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

SR = 16000


def load_clips(count: int, seconds: float) -> list[np.ndarray]:
    import soundfile as sf

    folder = Path(__file__).resolve().parents[1] / "bench" / "data" / "embedded" / "Libri2Mix" / "wav16k" / "min" / \
        "test" / "s1"
    files = sorted(folder.glob("*.flac"))[:count] if folder.is_dir() else []
    clips = [sf.read(str(f), dtype="float32")[0] for f in files]
    rng = np.random.default_rng(0)
    while len(clips) < count:
        t = np.arange(int(seconds * SR)) / SR
        pitch = 120 + 40 * np.sin(2 * np.pi * 0.5 * t)
        clips.append((0.3 * np.sin(2 * np.pi * np.cumsum(pitch) / SR) * (rng.random(t.size) > 0.1)).astype(np.float32))
    return clips


def rate(fn, clips) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(clips)
    return len(clips) / (time.perf_counter() - start), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=6.0, help="length of synthetic clips")
    parser.add_argument("--threads", type=int, default=None, help="ONNX threads for our DNSMOS")
    args = parser.parse_args()
    clips = load_clips(args.clips, args.seconds)
    print(f"{len(clips)} clips, {sum(map(len, clips)) / SR:.1f} s of audio")

    from bench.metrics.dnsmos import DnsmosModels

    ours = DnsmosModels(threads=args.threads)
    ours.score(clips[:1])  # warm-up (session initialisation)
    ours_rate, ours_scores = rate(ours.score, clips)
    try:
        from speechmos import dnsmos as reference  # imports librosa
    except ImportError as exc:
        print(f"DNSMOS: ours {ours_rate:.2f} clips/s; speechmos unavailable ({exc}): pip install -e '.[reference]'")
    else:
        reference.run(clips[0], SR)  # warm-up
        ref_rate, ref_scores = rate(lambda cs: [reference.run(c, SR) for c in cs], clips)
        worst = max(abs(o.p808 - float(r["p808_mos"])) for o, r in zip(ours_scores, ref_scores))
        print(f"DNSMOS: ours {ours_rate:.2f} clips/s, speechmos {ref_rate:.2f} clips/s, "
              f"ratio {ours_rate / ref_rate:.2f}x (max |P.808 diff| {worst:.1e})")

    from bench.metrics.sisnr import si_snr

    refs = [c[::-1].copy() for c in clips]
    reps = 20
    ours_rate, _ = rate(lambda cs: [si_snr(e, r) for _ in range(reps) for e, r in zip(cs, refs)], clips)
    ours_rate *= reps
    try:
        import torch
        from torchmetrics.functional.audio import scale_invariant_signal_noise_ratio
    except ImportError as exc:
        print(f"SI-SNR: ours {ours_rate:.0f} clips/s; torchmetrics unavailable ({exc})")
        return
    tm_rate, _ = rate(lambda cs: [float(scale_invariant_signal_noise_ratio(torch.from_numpy(e), torch.from_numpy(r)))
                                  for _ in range(reps) for e, r in zip(cs, refs)], clips)
    tm_rate *= reps
    print(f"SI-SNR: ours {ours_rate:.0f} clips/s, torchmetrics {tm_rate:.0f} clips/s, ratio {ours_rate / tm_rate:.2f}x")


if __name__ == "__main__":
    main()
