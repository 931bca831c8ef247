"""Codec quality against bitrate on clean single-speaker speech (the codec quality gate).

Every s1/s2 source of a Libri2Mix-format test set (default: the embedded one, whose
voices no model was trained on) is encoded and decoded by each codec operating point;
the table gives the bitrate measured from the payloads, STOI and SI-SNR against the
clean source, DWER (Whisper on the decoded clip against Whisper on the clean one,
pooled edit counts) and DNSMOS P.808 of the decoded speech (``--p835`` adds P.835
OVRL at ~1 s of CPU per clip and row).

The gate printed under the table (issue 15): for the neural codec, quality rises
strictly at every step 0.5 -> 1 -> 2 -> 4 -> 8 kbps on STOI, DWER and DNSMOS P.808;
at 8 kbps STOI >= 0.93, DWER <= 10 %, SI-SNR >= 5 dB, DNSMOS P.808 within 0.2 of the
clean sources; at 1 kbps STOI >= 0.85.

    .venv/bin/python benchmarks/codec_quality.py                       # mdct_rvq at 0.5..8 kbps
    .venv/bin/python benchmarks/codec_quality.py --classic             # + codec2 and opus
    .venv/bin/python benchmarks/codec_quality.py --limit 16 --no-dnsmos --no-dwer
    .venv/bin/python benchmarks/codec_quality.py --inputs separated --no-dwer --p835
    .venv/bin/python benchmarks/codec_quality.py --ceiling --no-dwer        # + no-quantiser row, RVQ energy

``--inputs separated`` codes the packaged Sepformer's estimates of the test mixtures
instead (what FSTC codes): STOI, SI-SNR and DWER are then against the uncoded estimate,
and only the strict rises are checked, since the targets are defined on clean speech.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

EMBEDDED = Path(__file__).resolve().parents[1] / "bench/data/embedded/Libri2Mix/wav16k/min/test"
NEURAL_KBPS = (0.5, 1.0, 2.0, 4.0, 8.0)
CLASSIC = {"codec2": (0.7, 1.2, 1.6, 2.4, 3.2), "opus": (6.0, 8.0, 12.0, 16.0)}


def evenly_spaced(items: list, limit: int | None) -> list:
    """At most ``limit`` items spread evenly over ``items`` (all of them without a limit)."""
    return items[:: max(1, len(items) // limit)][:limit] if limit else items


def read_16k(path: Path) -> np.ndarray:
    """One audio file as a 16 kHz float array, whatever its own rate."""
    from bench.audio import read_audio, resample

    audio, rate = read_audio(path)
    return resample(audio, rate, 16000)


def load_sources(root: Path, limit: int | None) -> list[np.ndarray]:
    """Clean single-speaker clips: every file in ``root``/s1 and ``root``/s2 (sorted), 16 kHz."""
    files = sorted((root / "s1").glob("*.*")) + sorted((root / "s2").glob("*.*"))
    files = [f for f in files if f.suffix.lower() in (".flac", ".wav")]
    if not files:
        sys.exit(f"no s1/s2 audio under {root}")
    return [read_16k(path) for path in evenly_spaced(files, limit)]


def separated_sources(root: Path, limit: int | None, separator_dir: Path | None, device: str) -> list[np.ndarray]:
    """The separator's estimates of every mixture in ``root``/mix_clean, in s1-then-s2 order like ``load_sources``.

    Why: FSTC codes these estimates, not clean speech.  Coding them here, with nothing else
    changed, shows how much of FSTC's rate curve is the codec's own and how much the separator's
    residue (``--inputs separated``).  Each estimate is paired with its source by the SI-SNR
    permutation, so row i here and row i of ``--inputs clean`` are the same talker and utterance.
    With ``limit``, only the mixtures behind the chosen clips are separated.
    """
    from bench.baselines.separators.sepformer import load_separator
    from bench.baselines.separators.system import default_model_dir
    from bench.metrics.sisnr import best_permutation

    mixtures = sorted(p for p in (root / "mix_clean").glob("*.*") if p.suffix.lower() in (".flac", ".wav"))
    if not mixtures:
        sys.exit(f"no mix_clean audio under {root}")
    chosen = evenly_spaced([(path, slot) for slot in (0, 1) for path in mixtures], limit)
    separator = load_separator(separator_dir or default_model_dir(), device=device)
    paired: dict[Path, np.ndarray] = {}                 # mixture -> its estimates in s1, s2 order
    for path in dict.fromkeys(path for path, _ in chosen):
        sources = np.stack([read_16k(root / spk / path.name) for spk in ("s1", "s2")])
        estimates = separator.separate_many([read_16k(path)], 16000, device=device)[0]
        paired[path] = estimates[list(best_permutation(estimates, sources))]
    return [paired[path][slot] for path, slot in chosen]


def evaluate(codec, kbps: float, clips: list[np.ndarray], dnsmos, asr=None,
             references: list[str] | None = None, bands: bool = False) -> dict[str, float]:
    """Measured kbps, mean STOI, mean SI-SNR, pooled DWER and DNSMOS of one operating point
    (and, with ``bands``, each band's SNR and level)."""
    from bench.records import stream_bits

    mode = codec.bitrate(kbps)
    bits, seconds, decoded, start = 0, 0.0, [], time.perf_counter()
    for clip in clips:
        payload = codec.encode(clip, mode)
        bits += stream_bits(payload)
        seconds += clip.size / 16000
        decoded.append(codec.decode(payload, mode, clip.size))
    row = {"kbps": kbps, "measured_kbps": bits / seconds / 1000, "rtf": (time.perf_counter() - start) / seconds}
    row.update(score(decoded, clips, dnsmos, asr, references, bands))
    return row


def score(decoded: list[np.ndarray], clips: list[np.ndarray], dnsmos, asr=None,
          references: list[str] | None = None, bands: bool = False) -> dict[str, float]:
    """Mean STOI and SI-SNR, pooled DWER and DNSMOS of decoded clips against their clean ones."""
    from bench.metrics.sisnr import si_snr
    from bench.metrics.stoi import stoi

    row = {"stoi": float(np.mean([stoi(d, c, 16000) for d, c in zip(decoded, clips)])),
           "sisnr": float(np.mean([si_snr(d, c) for d, c in zip(decoded, clips)]))}
    if bands:
        row.update(band_balance(decoded, clips))
    if asr is not None and references is not None:
        row["dwer"] = dwer(asr, decoded, references)
    row.update(score_dnsmos(dnsmos, decoded))
    return row


def encoder_latents(model, clips: list[np.ndarray]) -> list:
    """The encoder's latent z [1, K, frames] of each clip (computed once for both ceiling measurements)."""
    import torch

    with torch.no_grad():
        return [model.latent(torch.from_numpy(np.ascontiguousarray(clip, dtype=np.float32))[None]) for clip in clips]


def unquantised_decodes(model, latents: list, clips: list[np.ndarray]) -> list[np.ndarray]:
    """Each clip's latent decoded with the quantiser left out.

    Why: the decoder is given the encoder's latent z itself, told it carries all N stages
    (and scaled by the post-filter's N-stage gains), so this is the best any number of
    stages could give with this encoder and decoder.  If it stays under a target, no
    quantiser can reach that target with this backbone.  (The decoder was trained on z_q,
    a sum of codevectors; at N = 16 stages z_q keeps ~95 % of z's energy, see
    :func:`rvq_residual_energy`, so z is close to what it was trained on.)
    """
    import torch

    with torch.no_grad():
        return [model.decode_from_latent(latent, clip.size, model.cfg.num_stages)[0].numpy()
                for latent, clip in zip(latents, clips)]


def rvq_residual_energy(model, latents: list) -> np.ndarray:
    """E_n / E_0 for n = 0..N: the energy of the RVQ residual r_{n+1} = z - sum_{i<=n} w_{i,d_i},
    pooled over every latent frame, relative to the latents' own energy."""
    import torch

    stages = model.quantizer.stages
    energy = np.zeros(len(stages) + 1)
    with torch.no_grad():
        for latent in latents:
            residual = latent.transpose(1, 2)                              # [1, frames, K]
            energy[0] += float(residual.pow(2).sum())
            for n, vq in enumerate(stages):
                residual = residual - vq.lookup(vq.encode(residual))
                energy[n + 1] += float(residual.pow(2).sum())
    return energy / energy[0]


def gaussian_bound_db(stages: int, bits: float, dim: int) -> float:
    """Shannon's distortion-rate bound, in dB of the variance, for an i.i.d. Gaussian vector of
    ``dim`` components coded with ``stages * bits`` bits: D(R) = sigma^2 2^(-2R), R = stages*bits/dim
    bits per component.  A Gaussian is the hardest source of a given variance: the distortion-rate
    function of any latent with that variance lies at or below this line, so an RVQ above it leaves
    distortion that better quantisation (or a more compressible latent) could remove."""
    return float(-20 * np.log10(2) * stages * bits / dim)


def energy_table(relative: np.ndarray, bits: float, dim: int, kbps_per_stage: float) -> str:
    """Markdown: RVQ residual energy after n stages against the Gaussian distortion-rate bound (dB)."""
    lines = ["| stages | kbps | residual energy dB | Gaussian bound dB |", "|---|---|---|---|"]
    for n in range(1, len(relative)):
        lines.append(f"| {n} | {n * kbps_per_stage:g} | {10 * np.log10(relative[n]):.2f} "
                     f"| {gaussian_bound_db(n, bits, dim):.2f} |")
    return "\n".join(lines)


BANDS_HZ = ((0, 1000), (1000, 2000), (2000, 4000), (4000, 8000))
BAND_LABELS = tuple(f"{lo / 1000:g}-{hi / 1000:g}k" for lo, hi in BANDS_HZ)      # "0-1k", ... (row keys)


def band_balance(decoded: list[np.ndarray], clips: list[np.ndarray], sr: int = 16000) -> dict[str, float]:
    """Per band, pooled over the clips: SNR of the decoded waveform (dB) and its level against the clean one (dB).

    Why: a codec trained with waveform terms can match the low band while shrinking the
    coefficients whose signs it cannot carry, which is heard as a muffled high band; mean
    STOI and SI-SNR hide that, these two numbers per band show it.
    """
    signal, error, decoded_power = (np.zeros(len(BANDS_HZ)) for _ in range(3))
    for d, c in zip(decoded, clips):
        n = min(d.size, c.size)
        freqs = np.fft.rfftfreq(n, 1 / sr)
        spec_c, spec_d = np.fft.rfft(c[:n]), np.fft.rfft(d[:n])
        for b, (lo, hi) in enumerate(BANDS_HZ):
            sel = (freqs >= lo) & (freqs < hi)
            signal[b] += np.sum(np.abs(spec_c[sel]) ** 2)
            error[b] += np.sum(np.abs(spec_d[sel] - spec_c[sel]) ** 2)
            decoded_power[b] += np.sum(np.abs(spec_d[sel]) ** 2)
    out = {}
    for b, label in enumerate(BAND_LABELS):
        if signal[b] <= 0:                       # nothing of the clean clips in this band
            out[f"snr_{label}"] = out[f"level_{label}"] = float("nan")
            continue
        out[f"snr_{label}"] = float(10 * np.log10(signal[b] / max(error[b], 1e-20)))
        out[f"level_{label}"] = float(10 * np.log10(max(decoded_power[b], 1e-20) / signal[b]))
    return out


def dwer(asr, decoded: list[np.ndarray], references: list[str]) -> float:
    """Differential WER (%): ASR of the decoded clips against ASR of the clean clips, pooled."""
    from bench.metrics.dwer import error_counts, pooled_rate

    counts = [error_counts(ref, asr.transcribe(clip, 16000), "word") for clip, ref in zip(decoded, references)]
    return pooled_rate([e for e, _ in counts], [n for _, n in counts])


def gate(rows: list[dict], targets: bool = True) -> list[tuple[str, bool]]:
    """The issue-15 codec gate on the mdct_rvq rows: (criterion, passed) pairs.

    ``targets=False`` keeps only the strict rises: the absolute targets are defined on clean sources.
    """
    clean = rows[0]
    neural = sorted((r for r in rows if r["codec"] == "mdct_rvq"), key=lambda r: r["kbps"])
    by_kbps = {r["kbps"]: r for r in neural}
    checks: list[tuple[str, bool]] = []
    for key, better in (("stoi", 1), ("dwer", -1), ("p808", 1)):
        if all(key in r for r in neural) and len(neural) > 1:
            values = [r[key] for r in neural]
            rising = all(better * (b - a) > 0 for a, b in zip(values, values[1:]))
            shown = " -> ".join(f"{v:.3f}" if key == "stoi" else f"{v:.2f}" for v in values)
            checks.append((f"{key} {'rises' if better > 0 else 'falls'} strictly with kbps ({shown})", rising))
    if not targets:
        return checks
    top, one = by_kbps.get(8.0), by_kbps.get(1.0)
    if top is not None:
        checks.append((f"8 kbps STOI >= 0.93 ({top['stoi']:.3f})", top["stoi"] >= 0.93))
        checks.append((f"8 kbps SI-SNR >= 5 dB ({top['sisnr']:.2f})", top["sisnr"] >= 5.0))
        if "dwer" in top:
            checks.append((f"8 kbps DWER <= 10 % ({top['dwer']:.1f})", top["dwer"] <= 10.0))
        if "p808" in top and "p808" in clean:
            checks.append((f"8 kbps DNSMOS P.808 within 0.2 of clean ({top['p808']:.2f} vs {clean['p808']:.2f})",
                           abs(top["p808"] - clean["p808"]) <= 0.2))
    if one is not None:
        checks.append((f"1 kbps STOI >= 0.85 ({one['stoi']:.3f})", one["stoi"] >= 0.85))
    return checks


class P808Only:
    """DNSMOS P.808 alone (the project's DNSMOS windows and features, only the small P.808 model).

    The P.835 model costs ~1 s of CPU per 9 s window; the P.808 one a few ms, which
    keeps a full table on a 2-core machine within minutes.  ``--p835`` uses the
    complete metric instead.
    """

    def __init__(self, threads: int) -> None:
        import onnxruntime as ort

        from bench.metrics.dnsmos import model_paths

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(model_paths()[1]), options, providers=["CPUExecutionProvider"])

    def score(self, clips: list[np.ndarray]) -> list[dict[str, float]]:
        from bench.metrics.dnsmos import p808_features, windows

        out = []
        for clip in clips:
            feats = np.stack([p808_features(w) for w in windows(clip)])
            out.append({"p808": float(np.mean(self.session.run(None, {"input_1": feats})[0][:, 0]))})
        return out


def score_dnsmos(dnsmos, clips: list[np.ndarray]) -> dict[str, float]:
    if dnsmos is None:
        return {}
    scores = [s if isinstance(s, dict) else {"p808": s.p808, "ovrl": s.ovrl} for s in dnsmos.score(clips)]
    return {key: float(np.mean([s[key] for s in scores])) for key in scores[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=EMBEDDED, help="folder holding s1/ and s2/ (16 kHz)")
    parser.add_argument("--inputs", choices=("clean", "separated"), default="clean",
                        help="code the clean sources (the codec gate) or the separator's estimates of the mixtures "
                             "(what FSTC codes; the first row is then the uncoded estimates, and only the rises are checked)")
    parser.add_argument("--separator", type=Path, default=None, metavar="DIR",
                        help="with --inputs separated: Sepformer model directory (default: the packaged one)")
    parser.add_argument("--checkpoint", default=None, help="mdct_rvq checkpoint (default: the packaged one)")
    parser.add_argument("--kbps", default=",".join(f"{k:g}" for k in NEURAL_KBPS), help="mdct_rvq rates")
    parser.add_argument("--classic", action="store_true", help="also codec2 and opus")
    parser.add_argument("--limit", type=int, default=None, help="use only N clips (evenly spaced)")
    parser.add_argument("--no-dnsmos", action="store_true", help="skip DNSMOS")
    parser.add_argument("--no-dwer", action="store_true", help="skip DWER (Whisper; the slowest column)")
    parser.add_argument("--p835", action="store_true", help="full DNSMOS (P.835 SIG/BAK/OVRL too; slow on CPU)")
    parser.add_argument("--bands", action="store_true",
                        help="also each band's SNR and decoded level against the clean one (dB; shows a muffled band)")
    parser.add_argument("--post-gain-power", type=float, default=1.0, metavar="P",
                        help="ablation: decode with the post-filter's gains raised to P (0: without it; 1: as shipped)")
    parser.add_argument("--ceiling", action="store_true",
                        help="also the mdct_rvq encoder + decoder without the quantiser (what no number of stages "
                             "can beat) and the RVQ's residual energy per stage against the Gaussian bound")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)

    import torch

    from bench.baselines.codecs import get_codec

    torch.set_num_threads(args.threads)
    if args.inputs == "separated":
        clips = separated_sources(args.data, args.limit, args.separator, args.device)
    else:
        clips = load_sources(args.data, args.limit)
    dnsmos = None
    if not args.no_dnsmos:
        try:
            if args.p835:
                from bench.metrics.dnsmos import DnsmosModels

                dnsmos = DnsmosModels(threads=args.threads)
            else:
                dnsmos = P808Only(args.threads)
        except Exception as exc:                       # metric not installed: STOI only
            print(f"DNSMOS unavailable ({exc}); STOI only", file=sys.stderr)
    total = sum(c.size for c in clips) / 16000
    print(f"{len(clips)} {args.inputs} sources, {total / 60:.1f} min, from {args.data}", file=sys.stderr)
    asr = references = None
    if not args.no_dwer:
        from bench.metrics.asr import get_recognizer

        asr = get_recognizer()
        references = [asr.transcribe(clip, 16000) for clip in clips]

    plan = [("mdct_rvq", float(k)) for k in args.kbps.split(",") if k]
    if args.classic:
        plan += [(name, k) for name, rates in CLASSIC.items() for k in rates]
    codecs = {}
    rows = [{"codec": args.inputs, "kbps": float("nan"), "measured_kbps": float("nan"), "rtf": 0.0, "stoi": 1.0,
             "sisnr": float("inf"), **({"dwer": 0.0} if asr is not None else {}), **score_dnsmos(dnsmos, clips)}]
    for name, kbps in plan:
        if name not in codecs:
            options = {"device": args.device}
            if name == "mdct_rvq" and args.checkpoint:
                options["checkpoint"] = args.checkpoint
            codecs[name] = get_codec(name, **options)
            if name == "mdct_rvq" and args.post_gain_power != 1.0:
                scale_post_gain(codecs[name].model, args.post_gain_power)
        row = {"codec": name, **evaluate(codecs[name], kbps, clips, dnsmos, asr, references, args.bands)}
        rows.append(row)
        print(format_row(row), file=sys.stderr, flush=True)
    energy = None
    if args.ceiling:
        if "mdct_rvq" not in codecs:
            sys.exit("--ceiling needs at least one mdct_rvq rate (--kbps)")
        model = codecs["mdct_rvq"].model
        latents = encoder_latents(model, clips)
        row = {"codec": "mdct_rvq without RVQ", "kbps": float("nan"), "measured_kbps": float("nan"), "rtf": 0.0,
               **score(unquantised_decodes(model, latents, clips), clips, dnsmos, asr, references, args.bands)}
        rows.append(row)
        print(format_row(row), file=sys.stderr, flush=True)
        energy = rvq_residual_energy(model, latents)
    print(table(rows, dnsmos is not None, args.p835))
    if args.bands:
        print("\n" + band_table(rows[1:]))
    if energy is not None:
        cfg, bits = model.cfg, float(np.log2(model.cfg.codebook_size))
        print(f"\nRVQ residual energy over the {len(clips)} clips' latents (K = {cfg.codebook_dim}, "
              f"M = {cfg.codebook_size}):\n"
              + energy_table(energy, bits, cfg.codebook_dim, bits * cfg.frame_rate / 1000))
    checks = gate(rows, targets=args.inputs == "clean")
    if checks:
        print("\nCodec gate (mdct_rvq):" if args.inputs == "clean" else "\nOn separated input (mdct_rvq):")
        for text, passed in checks:
            print(f"- {'PASS' if passed else 'FAIL'}: {text}")
    return 0


def scale_post_gain(model, power: float) -> None:
    """Replace the codec's post-filter gains G by G**power (0 removes the filter).

    Why: an ablation that separates what the network decodes from what the post-filter adds,
    e.g. whether a DNSMOS dip at some rates comes from the gains or from the decoder itself.
    """
    if model.post_gain is not None:
        model.post_gain = None if power == 0 else model.post_gain.pow(power)


def band_table(rows: list[dict]) -> str:
    """Markdown: per operating point, each band's SNR / decoded level against the clean one (dB)."""
    lines = ["| codec | nominal kbps | " + " | ".join(f"{b} Hz SNR / level dB" for b in BAND_LABELS) + " |",
             "|---|---|" + "---|" * len(BAND_LABELS)]
    for row in rows:
        cells = " | ".join(f"{row[f'snr_{b}']:.1f} / {row[f'level_{b}']:+.1f}" for b in BAND_LABELS)
        lines.append(f"| {row['codec']} | {row['kbps']:g} | {cells} |")
    return "\n".join(lines)


def format_row(row: dict) -> str:
    return " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())


def table(rows: list[dict], with_dnsmos: bool, with_ovrl: bool = False) -> str:
    with_dwer = any("dwer" in r for r in rows)
    head = ("| codec | nominal kbps | measured kbps | STOI | SI-SNR dB |" + (" DWER % |" if with_dwer else "")
            + (" DNSMOS P.808 |" if with_dnsmos else "") + (" DNSMOS OVRL |" if with_ovrl else ""))
    lines = [head, "|" + "|".join(["---"] * (head.count("|") - 1)) + "|"]
    for r in rows:
        cells = [r["codec"], "-" if np.isnan(r["kbps"]) else f"{r['kbps']:g}",
                 "-" if np.isnan(r["measured_kbps"]) else f"{r['measured_kbps']:.3f}", f"{r['stoi']:.3f}",
                 "∞" if np.isinf(r["sisnr"]) else f"{r['sisnr']:.2f}"]
        if with_dwer:
            cells.append(f"{r['dwer']:.1f}" if "dwer" in r else "-")
        if with_dnsmos:
            cells.append(f"{r.get('p808', float('nan')):.2f}")
        if with_ovrl:
            cells.append(f"{r.get('ovrl', float('nan')):.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
