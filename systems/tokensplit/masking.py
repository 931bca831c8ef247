"""Random input masking (Section 3.2): whole streams and contiguous sub-regions become mask tokens.

Masking every combination of inputs is what lets one model serve separation +
recognition (transcripts masked), transcript-conditioned separation (one or both
transcripts kept) and multi-speaker TTS (audio masked).  Sub-region masks teach
the model to fill gaps from context.  Acoustic regions cover whole frames (all Q'
levels of a frame), so a mask never splits a frame.
"""

from __future__ import annotations

import torch

from bench.systems.tokensplit.config import MaskingConfig
from bench.systems.tokensplit.vocab import MASK, SequenceLayout


def stream_probability(kind: str, cfg: MaskingConfig) -> float:
    return {"transcript": cfg.transcript_stream, "semantic": cfg.semantic_stream,
            "acoustic": cfg.acoustic_stream}.get(kind, 0.0)


def mask_inputs(sequence: torch.Tensor, layout: SequenceLayout, cfg: MaskingConfig,
                generator: torch.Generator) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Masked copy of ``sequence`` [B, L] and, per stream, which items had it fully masked [B] (bool)."""
    out = sequence.clone()
    batch = sequence.shape[0]
    whole: dict[str, torch.Tensor] = {}
    for stream in layout.streams:
        if stream.name not in layout.slices:
            continue
        sl = layout.slices[stream.name]
        drop = torch.rand(batch, generator=generator) < stream_probability(stream.kind, cfg)
        out[drop, sl] = MASK
        whole[stream.name] = drop
        region = (torch.rand(batch, generator=generator) < cfg.region) & ~drop
        frames = stream.length // stream.levels
        for b in torch.nonzero(region).flatten().tolist():
            lo, hi = cfg.region_fraction
            fraction = lo + (hi - lo) * float(torch.rand((), generator=generator))
            span = max(1, int(round(fraction * frames)))
            start = int(torch.randint(0, frames - span + 1, (), generator=generator))
            first = sl.start + start * stream.levels
            out[b, first:first + span * stream.levels] = MASK
    return out, whole
