"""Fit the codec's rate-dependent post-filter (``bench train codec-postfilter``).

Why: a codec trained with waveform terms (SNR, L1 on the signed MDCT coefficients)
minimises them by shrinking every coefficient whose sign the tokens cannot carry
towards zero, so with few stages the decoded 2-8 kHz band comes out 10-14 dB too
quiet (``benchmarks/codec_quality.py --bands``): muffled speech, consonants lost.
The decoder knows how many stages N' it was given, so a gain per stage count and
MDCT bin restores the level that the clean speech has on average:

    G[N', k] = sqrt( sum_{utt, frames} X[k]^2 / sum_{utt, frames} X^_{N'}[k]^2 )

over single-speaker training audio (X the clean MDCT, X^_{N'} the decoded one with
N' stages), clamped to [``min_gain``, ``max_gain``].  It changes no weight of the
network and no token, so token models (CodeSep, TokenSplit) see the same tokens;
but it changes the file, and so the codec's SHA-256 they are tied to.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    import torch

    from bench.baselines.codecs.mdct_rvq.model import MDCTRVQModel

MIN_GAIN, MAX_GAIN = 0.5, 8.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="PATH", help="exported codec checkpoint to start from")
    parser.add_argument("--data", required=True, metavar="DIR",
                        help="single-speaker training audio (a Libri2Mix-format tree's s1/s2, or LibriSpeech)")
    parser.add_argument("--out", required=True, metavar="PATH", help="write the codec with its post-filter here")
    parser.add_argument("--utterances", type=int, default=200, help="training files used (evenly spaced)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    parser.add_argument("--device", default="cpu")


def fit_post_gain(model: "MDCTRVQModel", waves: "Iterable[torch.Tensor]", min_gain: float = MIN_GAIN,
                  max_gain: float = MAX_GAIN) -> "torch.Tensor":
    """G [N, hop] from an iterable of 1-D float tensors (see the module docstring)."""
    import torch

    from bench.baselines.codecs.mdct_rvq.model import compress, expand
    from torch import nn

    n_stages, hop = model.cfg.num_stages, model.cfg.hop
    clean = torch.zeros(hop, dtype=torch.float64)
    decoded = torch.zeros(n_stages, hop, dtype=torch.float64)
    with torch.no_grad():
        for wave in waves:
            wave = wave.to(next(model.parameters()).device)[None]
            padded = nn.functional.pad(wave, (0, model.padded_length(wave.shape[-1]) - wave.shape[-1]))
            coeffs = model.mdct(padded)                     # X, computed once: the target and the encoder's input
            clean += coeffs[0].double().pow(2).sum(-1).cpu()
            tokens = model.quantizer.encode(model.encoder(compress(coeffs)).transpose(1, 2), n_stages)
            z_q = torch.zeros(())
            for n in range(n_stages):                       # z_q with N' = n + 1 stages: add one codevector
                z_q = z_q + model.quantizer.stages[n].lookup(tokens[:, n])
                decoded[n] += expand(model.decoder(z_q.transpose(1, 2), n + 1))[0].double().pow(2).sum(-1).cpu()
    gain = (clean[None] / decoded.clamp_min(1e-20)).sqrt().clamp(min_gain, max_gain)
    return gain.float()


def run(args: argparse.Namespace) -> int:
    import torch

    from bench.baselines.codecs.mdct_rvq.checkpoint import export_weights, load_model
    from bench.baselines.codecs.mdct_rvq.data import find_training_files
    from bench.audio import read_audio, resample
    from bench.progress import progress_bar

    torch.set_num_threads(args.threads)
    source, out = Path(args.checkpoint), Path(args.out)
    model = load_model(source, device=args.device)
    info = _training_record(source.with_suffix(".json"))     # a bad twin stops the run before the fit
    model.post_gain = None                                   # fit on the network's own output
    files = find_training_files(Path(args.data))
    files = files[:: max(1, len(files) // args.utterances)][: args.utterances]
    started = time.monotonic()

    def waves():
        with progress_bar(len(files), desc="post-filter", unit="utt") as bar:
            for path in files:
                audio, rate = read_audio(path)
                yield torch.as_tensor(resample(audio, rate, model.cfg.sample_rate), dtype=torch.float32)
                bar.update(1)

    model.post_gain = fit_post_gain(model, waves()).to(next(model.parameters()).device)
    command = shlex.join(["bench", "train", "codec-postfilter", "--checkpoint", str(args.checkpoint), "--data",
                          str(args.data), "--out", str(args.out), "--utterances", str(args.utterances)])
    info["post_filter"] = {
        "from": str(source), "data": str(args.data), "utterances": len(files),
        "seconds": round(time.monotonic() - started, 1), "min_gain": MIN_GAIN, "max_gain": MAX_GAIN,
        "command": command,
        "gain_db_mean_by_stages": [round(float(20 * torch.log10(g).mean()), 2) for g in model.post_gain.cpu()],
    }
    export_weights(model, out, info)
    print(f"post-filter fitted on {len(files)} files; wrote {out}", file=sys.stderr)
    return 0


def _training_record(path: Path) -> dict:
    """The JSON twin of the source checkpoint (its history carries over), minus the config.

    The twin is informational: one that is absent is an empty record; one that is not a
    JSON object stops with a one-line error naming it, before anything is written.
    """
    from bench.errors import BenchError

    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchError(f"{path}: not valid JSON ({exc.__class__.__name__}: {str(exc).splitlines()[0]})") from None
    if not isinstance(info, dict):
        raise BenchError(f"{path}: expected a JSON object describing the checkpoint")
    info.pop("config", None)
    return info

