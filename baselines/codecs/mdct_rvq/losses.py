"""Reconstruction losses: multi-resolution log-mel and log-magnitude L1, MDCT-domain L1.

The mel term tracks perceived spectral envelope at several time/frequency
trade-offs; the log-magnitude term keeps fine harmonic structure; the MDCT term
supervises the decoder's own output domain directly (MDCTCodec's spectral-level
loss), which speeds up early training before the spectral terms take over.
"""

from __future__ import annotations

import torch
from torch import nn


class MultiResolutionSpectralLoss(nn.Module):
    """Sum over FFT sizes of L1(log mel) * mel_weight + L1(log |STFT|) * spec_weight."""

    def __init__(self, sample_rate: int = 16000, fft_sizes: tuple[int, ...] = (256, 512, 1024, 2048),
                 mel_bins: tuple[int, ...] = (32, 64, 80, 128)) -> None:
        super().__init__()
        from torchaudio.functional import melscale_fbanks

        self.fft_sizes = fft_sizes
        for n_fft, n_mels in zip(fft_sizes, mel_bins):
            fb = melscale_fbanks(n_fft // 2 + 1, 0.0, sample_rate / 2, n_mels, sample_rate, norm="slaney",
                                 mel_scale="slaney")
            self.register_buffer(f"fb{n_fft}", fb, persistent=False)
            self.register_buffer(f"win{n_fft}", torch.hann_window(n_fft), persistent=False)

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mel_loss = estimate.new_zeros(())
        mag_loss = estimate.new_zeros(())
        for n_fft in self.fft_sizes:
            window = getattr(self, f"win{n_fft}")
            fb = getattr(self, f"fb{n_fft}")
            mags = [torch.stft(x, n_fft, n_fft // 4, window=window, return_complex=True).abs()
                    for x in (estimate, target)]
            mag_loss = mag_loss + (torch.log(mags[0] + 1e-5) - torch.log(mags[1] + 1e-5)).abs().mean()
            mels = [torch.log((m.transpose(1, 2) @ fb) + 1e-5) for m in mags]
            mel_loss = mel_loss + (mels[0] - mels[1]).abs().mean()
        return mel_loss / len(self.fft_sizes), mag_loss / len(self.fft_sizes)


def mdct_loss(predicted: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """L1 between predicted and true power-compressed MDCT coefficients (items weighted by ``weights`` [B])."""
    per_item = (predicted - target).abs().flatten(1).mean(-1)
    return per_item.mean() if weights is None else (weights * per_item).mean()


def snr_loss(estimate: torch.Tensor, target: torch.Tensor, floor_db: float = -40.0,
             weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over items of -SNR(x, x^) in dB: 10 log10(||x - x^||^2 / ||x||^2).

    Why: the spectral terms are blind to the signs of the MDCT coefficients, so a codec
    trained on them alone resynthesises plausible but unrelated waveforms (SI-SNR about
    -37 dB). The MDCT used here is orthogonal (TDAC), so the waveform error energy equals
    the error energy of the signed coefficients; the log makes the term scale-free, and the
    floor keeps perfect items from dominating.
    """
    err = (estimate - target).pow(2).sum(-1)
    ref = target.pow(2).sum(-1).clamp_min(1e-8)
    ratio = (err / ref).clamp_min(10 ** (floor_db / 10))
    per_item = 10 * torch.log10(ratio)
    return per_item.mean() if weights is None else (weights * per_item).mean()


def waveform_weights(stages: torch.Tensor, full_from: int, zero_until: int = 1) -> torch.Tensor:
    """Per-item weight of the waveform terms for items coded with N'_b = ``stages`` stages.

    Why: with few stages the tokens cannot carry the coefficients' signs, and the waveform
    terms are then minimised by shrinking the unpredictable coefficients towards zero
    (muffled 2-8 kHz). Ramping them in with the stage count, w = (N'-1)/(full_from-1)
    capped at 1, leaves the lowest rates to the spectral terms (like the ``tiny`` codec,
    which has none) and asks for the waveform where the bits can carry it.
    ``full_from`` <= 1 gives every item weight 1 (the earlier objective).  ``zero_until`` Z moves
    the ramp's foot: w = (N'-Z)/(full_from-Z), zero up to Z stages (Z = 1: the ramp above), for
    a codec whose low and middle rates should be judged by the spectral terms alone.
    """
    if full_from <= 1:
        return torch.ones_like(stages, dtype=torch.float32)
    zero_until = min(max(1, zero_until), full_from - 1)
    return ((stages.float() - zero_until) / (full_from - zero_until)).clamp(0.0, 1.0)
