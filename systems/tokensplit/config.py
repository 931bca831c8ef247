"""Sizes, token layout and masking probabilities of TokenSplit (``tiny`` and ``paper``).

``paper`` follows Section 4.1 of the TokenSplit paper: an encoder-decoder Transformer
with 12 + 12 layers, 12 heads, d = 768, FFN 2048, dropout 0.3, learned absolute
positions plus relative position biases, 3 s blocks, transcripts padded to 150
characters.  Their SoundStream ran at 25 Hz with Q' = 10 input / Q'' = 6 output
levels of 4096 codes; our codec runs at 50 Hz with 1024-code levels, so the defaults
are sized to it (Q' = 4, Q'' = 2 for ``paper``; Q' = 2, Q'' = 1 for ``tiny``, which
must train on a 2-core CPU in about an hour).  Semantic tokens are off by default:
no SSL model exists offline, and the paper's no-semantic variant loses little
(DWER 27.9 % vs 26.6 %).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bench.dataclass_dict import dataclass_from_dict


@dataclass(frozen=True)
class MaskingConfig:
    """Input masking applied in training (recorded in every checkpoint).

    Whole streams are replaced by mask tokens with the ``*_stream`` probabilities
    (independently per stream: masking both transcripts trains the separation +
    recognition mode, masking the audio the TTS mode); an unmasked stream has a
    contiguous sub-region of ``region_fraction`` (uniform in the range) masked with
    probability ``region``.
    """

    transcript_stream: float = 0.5
    semantic_stream: float = 0.2
    acoustic_stream: float = 0.05
    region: float = 0.2
    region_fraction: tuple[float, float] = (0.05, 0.3)


@dataclass(frozen=True)
class TokenSplitConfig:
    """One TokenSplit (``refine=False``) or TokenSplitRefine (``refine=True``) model."""

    refine: bool = False
    # -- tokens
    sample_rate: int = 16000
    block_seconds: float = 3.0          # 3 s blocks (training and inference)
    overlap_seconds: float = 1.0        # partial-overlap decoding: 1 s prompt from the previous block
    codebook_size: int = 1024           # codes per acoustic level (the codec's M)
    input_levels: int = 2               # Q': coarse levels of the mixture (and of the estimate, refine)
    output_levels: int = 1              # Q'': levels predicted per source
    transcript_length: int = 150        # characters, padded with mask
    transcript_vocab: int = 256         # byte values
    semantic_vocab: int = 0             # k-means clusters; 0 = no semantic tokens (the default variant)
    semantic_frames: int = 0            # semantic tokens per block (set from the tokenizer when used)
    # -- network
    dim: int = 768
    heads: int = 12
    encoder_layers: int = 12
    decoder_layers: int = 12
    ffn_dim: int = 2048
    dropout: float = 0.3                # on residual branches and the feed-forward hidden layer
    #: dropout on attention probabilities; off by default: on a CPU it costs more than the whole
    #: rest of a training step (a Bernoulli draw per [B, H, L, L] entry)
    attention_dropout: float = 0.0
    relative_buckets: int = 32
    relative_max_distance: int = 128
    masking: MaskingConfig = field(default_factory=MaskingConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TokenSplitConfig":
        return dataclass_from_dict(cls, data)


@dataclass(frozen=True)
class TrainSchedule:
    """Optimiser and loop settings of ``bench train tokensplit``."""

    batch_size: int = 256
    learning_rate: float = 5e-4
    warmup_steps: int = 10_000
    max_steps: int = 1_000_000
    weight_decay: float = 0.01
    eval_every: int = 5000
    log_every: int = 25
    gain_db: float = 3.0                # relative gain applied to the sources in dynamic mixtures
    original_fraction: float = 0.2      # share of examples that use an original training pair


PRESETS: dict[str, tuple[TokenSplitConfig, TrainSchedule]] = {
    # tiny: transcripts padded to 64 characters instead of 150 (3 s of our training speech stays under
    # ~50 characters, and the sequences - hence a CPU training step - get ~30 % shorter)
    "tiny": (TokenSplitConfig(input_levels=2, output_levels=1, transcript_length=64, dim=128, heads=4, encoder_layers=3,
                              decoder_layers=3, ffn_dim=384, dropout=0.1),
             TrainSchedule(batch_size=8, learning_rate=1e-3, warmup_steps=200, max_steps=6000, eval_every=250)),
    "paper": (TokenSplitConfig(input_levels=4, output_levels=2),
              TrainSchedule()),
}
