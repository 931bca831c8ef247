"""Sepformer architectures as speechbrain ``hyperparams.yaml`` text.

A model directory must be loadable by speechbrain's own ``SepformerSeparation`` as
well as by our loader, so the architecture is written in exactly the layout of the
public Sepformer checkpoints (``modules`` and ``pretrainer`` keys) rather than in a
format of our own.  ``paper`` mirrors speechbrain's Libri2Mix recipe; ``tiny`` is
small enough to train on two CPU cores in about an hour.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class SepformerArch:
    """The hyper-parameters that decide a Sepformer's shape (and thus its checkpoint layout)."""

    sample_rate: int = 8000
    num_spks: int = 2
    filters: int = 256          # encoder filters N (= transformer width)
    kernel_size: int = 16       # encoder kernel; the encoder's stride is kernel_size // 2
    chunk_size: int = 250       # K, frames per chunk of the dual-path segmentation
    repeats: int = 2            # dual-path blocks (Dual_Path_Model.num_layers)
    intra_layers: int = 8       # transformer layers inside each intra-chunk block
    inter_layers: int = 8       # transformer layers inside each inter-chunk block
    heads: int = 8
    ffn: int = 1024

    def to_dict(self) -> dict:
        return asdict(self)


ARCHS: dict[str, SepformerArch] = {
    # speechbrain recipes/LibriMix/separation/hparams/sepformer-libri2mix.yaml, at 16 kHz here
    "paper": SepformerArch(sample_rate=16000),
    # ~0.23 M parameters; kernel 32 / stride 16 (half the paper's frame rate, for CPU training), narrow layers
    "tiny": SepformerArch(sample_rate=16000, filters=64, kernel_size=32, chunk_size=100, repeats=2,
                          intra_layers=1, inter_layers=1, heads=4, ffn=256),
    # the shipped model: twice tiny's width, two transformer layers per block; trains on one CPU
    # thread over a few hours (or minutes on a GPU) to > 10 dB on unseen synthetic voices
    "small": SepformerArch(sample_rate=16000, filters=96, kernel_size=32, chunk_size=100, repeats=2,
                           intra_layers=1, inter_layers=1, heads=4, ffn=384),
}


def hyperparams_yaml(arch: SepformerArch, header: str = "") -> str:
    """Render ``arch`` as a speechbrain pretrained-model ``hyperparams.yaml``."""
    comment = "".join(f"# {line}\n" for line in header.splitlines()) if header else ""
    block = """\
    num_layers: {layers}
    d_model: {filters}
    nhead: {heads}
    d_ffn: {ffn}
    dropout: 0
    use_positional_encoding: true
    norm_before: true
"""
    return f"""\
{comment}sample_rate: {arch.sample_rate}
num_spks: {arch.num_spks}

Encoder: !new:speechbrain.lobes.models.dual_path.Encoder
    kernel_size: {arch.kernel_size}
    out_channels: {arch.filters}

SBtfintra: !new:speechbrain.lobes.models.dual_path.SBTransformerBlock
{block.format(layers=arch.intra_layers, filters=arch.filters, heads=arch.heads, ffn=arch.ffn)}
SBtfinter: !new:speechbrain.lobes.models.dual_path.SBTransformerBlock
{block.format(layers=arch.inter_layers, filters=arch.filters, heads=arch.heads, ffn=arch.ffn)}
MaskNet: !new:speechbrain.lobes.models.dual_path.Dual_Path_Model
    num_spks: !ref <num_spks>
    in_channels: {arch.filters}
    out_channels: {arch.filters}
    num_layers: {arch.repeats}
    K: {arch.chunk_size}
    intra_model: !ref <SBtfintra>
    inter_model: !ref <SBtfinter>
    norm: ln
    linear_layer_after_inter_intra: false
    skip_around_intra: true

Decoder: !new:speechbrain.lobes.models.dual_path.Decoder
    in_channels: {arch.filters}
    out_channels: 1
    kernel_size: {arch.kernel_size}
    stride: {arch.kernel_size // 2}
    bias: false

modules:
    encoder: !ref <Encoder>
    decoder: !ref <Decoder>
    masknet: !ref <MaskNet>

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        encoder: !ref <Encoder>
        masknet: !ref <MaskNet>
        decoder: !ref <Decoder>
"""
