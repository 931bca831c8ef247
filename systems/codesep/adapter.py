"""CodeSep as a harness :class:`~bench.system.System`, with its Table 4 ablations and an oracle.

Families (each its own registration, so ``bench run --systems codesep,codesep-notf`` works):

* ``codesep`` — BTDM + ATSP, the paper's system;
* ``codesep-noacbg`` — BTDM trained without the ACBG (Table 4, "w/o ACBG");
* ``codesep-notf`` — ATSP trained on its own predictions (Table 4, "w/o TF");
* ``codesep-oracle-aux`` — BTDM base tokens, auxiliary tokens from the true sources'
  codec tokens: an oracle (``needs_references``) bounding what a perfect ATSP could add;
* ``codesep-noatsp`` — BTDM base tokens decoded alone (N' = 1, the codec's 0.5 kbps
  per-speaker operating point): what the ATSP adds, measured from below.

Only the base tokens are transmitted: one :class:`TokenStream` of 10-bit tokens per
speaker at 50 frames/s, i.e. 1 kbps in total, which the harness measures from the
payload.  Options (``bench.toml``): ``checkpoint_dir`` (where ``btdm*.pt``/``atsp*.pt``
live; default the packaged ones), ``btdm`` / ``atsp`` (explicit files) and
``codec_checkpoint`` (default: the packaged codec checkpoint the BTDM weights were
trained on, else the codec's default).  Weights trained against another codec
checkpoint are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from bench.errors import BenchError
from bench.records import LoadedMixture, Separation, TokenStream
from bench.system import System

#: family -> (BTDM weights, ATSP weights or None for the oracle) in the checkpoint directory
VARIANT_FILES: dict[str, tuple[str, str | None]] = {
    "codesep": ("btdm.pt", "atsp.pt"),
    "codesep-noacbg": ("btdm-noacbg.pt", "atsp.pt"),
    "codesep-notf": ("btdm.pt", "atsp-notf.pt"),
    "codesep-oracle-aux": ("btdm.pt", None),
    "codesep-noatsp": ("btdm.pt", None),
}
CODEC_SAMPLE_RATE = 16000


def _paths(family: str, options: dict[str, Any]) -> tuple[Path, Path | None, Path]:
    """(BTDM file, ATSP file or None, codec checkpoint) for a family and its options."""
    from bench.baselines.codecs.mdct_rvq.checkpoint import codec_for_weights
    from bench.systems.codesep.checkpoint import PACKAGE_CHECKPOINTS

    folder = Path(options.get("checkpoint_dir") or PACKAGE_CHECKPOINTS).expanduser()
    btdm_name, atsp_name = VARIANT_FILES[family]
    btdm = Path(options["btdm"]).expanduser() if options.get("btdm") else folder / btdm_name
    atsp = None
    if atsp_name is not None:
        atsp = Path(options["atsp"]).expanduser() if options.get("atsp") else folder / atsp_name
    # no codec named: the packaged one BTDM was trained on (ATSP is then checked against it)
    codec = (Path(options["codec_checkpoint"]).expanduser() if options.get("codec_checkpoint")
             else codec_for_weights(btdm))
    return btdm, atsp, codec


class CodeSepSystem(System):
    """BTDM + ATSP over the MDCT-RVQ codec: separated waves from 1 kbps of base tokens."""

    family: ClassVar[str] = "codesep"
    version: ClassVar[str] = "1"
    #: attention over a padded batch would see the padding: one mixture per call
    max_batch_size: ClassVar[int] = 1
    #: base tokens of 2 speakers x 50 frames/s x 10 bits (nominal_kbps recomputes it from the codec)
    fixed_kbps: ClassVar[float | None] = 1.0

    def __init__(self, name: str, kbps: float | None = None, device: str = "cpu", sample_rate: int = 16000,
                 checkpoint_dir: str | None = None, btdm: str | None = None, atsp: str | None = None,
                 codec_checkpoint: str | None = None, **options: Any) -> None:
        for key, value in (("checkpoint_dir", checkpoint_dir), ("btdm", btdm), ("atsp", atsp),
                           ("codec_checkpoint", codec_checkpoint)):
            if value is not None:
                options[key] = str(value)
        # the codec works at 16 kHz; the harness resamples the mixture in and the estimates out
        super().__init__(name, kbps=kbps, device=device, sample_rate=CODEC_SAMPLE_RATE, **options)
        self.btdm_path, self.atsp_path, self.codec_path = _paths(self.family, options)
        self.inference = self._build(name)

    def _build(self, name: str):
        from bench.baselines.codecs.mdct_rvq.codec import MDCTRVQCodec
        from bench.baselines.codecs.mdct_rvq.checkpoint import codec_token_ids
        from bench.systems.codesep.checkpoint import load_weights
        from bench.systems.codesep.inference import CodeSepInference

        status = self.weights_status(**self.options)
        if status != "present":
            raise BenchError(f"system {name!r}: weights {status}")
        codec = MDCTRVQCodec(self.codec_path, device=self.device)
        digest = codec_token_ids(self.codec_path)
        btdm = load_weights(self.btdm_path, "btdm", self.codec_path, digest, self.device)
        atsp = (load_weights(self.atsp_path, "atsp", self.codec_path, digest, self.device)
                if self.atsp_path is not None else None)
        return CodeSepInference(codec, btdm, atsp, self.device)

    @classmethod
    def check_kbps(cls, name: str, kbps: float | None) -> None:
        if kbps is not None and abs(kbps - 1.0) > 1e-9:
            raise BenchError(f"system {name!r}: CodeSep transmits base tokens only, 1 kbps "
                             f"(use '{cls.family}' or '{cls.family}@1', not @{kbps:g})")

    @property
    def nominal_kbps(self) -> float:
        codec = self.inference.codec
        return 2 * codec.bits_per_token * codec.frame_rate(1) / 1000.0

    #: RVQ stages decoded per speaker (None: the ATSP's N)
    decoded_stages: ClassVar[int | None] = None

    def config(self) -> dict[str, Any]:
        return {**super().config(), "num_stages": self.decoded_stages or self.inference.num_stages,
                "transmitted": "base tokens (RVQ stage 1) of both speakers"}

    def checkpoint_files(self) -> Sequence[Path]:
        return [p for p in (self.btdm_path, self.atsp_path, self.codec_path) if p is not None]

    @classmethod
    def weights_status(cls, **options: Any) -> str:
        btdm, atsp, codec = _paths(cls.family, options)
        for what, path in (("codec checkpoint", codec), ("BTDM weights", btdm), ("ATSP weights", atsp)):
            if path is not None and not path.is_file():
                return f"missing: {what} {path} (train with `bench train codesep`)"
        from bench.baselines.codecs.mdct_rvq.checkpoint import codec_token_ids
        from bench.systems.codesep.checkpoint import check_codec, read_header

        try:
            digest = codec_token_ids(codec)
            for path in (btdm, atsp):
                if path is not None:
                    check_codec(read_header(path), path, codec, digest)
        except BenchError as exc:
            return f"missing: {exc}"
        return "present"

    # -- separation ---------------------------------------------------------------------------------
    def separate(self, batch: Sequence[LoadedMixture]) -> list[Separation]:
        return [self._one(item) for item in batch]

    def _one(self, item: LoadedMixture) -> Separation:
        import torch

        chain = self.inference
        mixture = np.asarray(item.mixture, dtype=np.float32)
        base = chain.base_tokens(mixture)                                  # [2, F] (eq. 2)
        aux = self._aux_tokens(item, base)                                 # [2, N-1, F]
        tokens = torch.cat([base[:, None], aux], dim=1)                     # [2, N, F]
        estimates = chain.decode(tokens, mixture.shape[-1])
        bits = chain.codec.bits_per_token
        payload = [TokenStream(tokens=base[i].cpu().numpy().astype(np.uint16), bits_per_token=bits)
                   for i in range(base.shape[0])]
        return Separation(estimates=estimates, payload=payload, info={"frames": int(base.shape[-1])})

    def _aux_tokens(self, item: LoadedMixture, base):
        return self.inference.aux_tokens(base)


class CodeSepNoACBGSystem(CodeSepSystem):
    """Ablation "w/o ACBG": the BTDM trained without the anti-consistency biases."""

    family = "codesep-noacbg"


class CodeSepNoTFSystem(CodeSepSystem):
    """Ablation "w/o TF": the ATSP trained on its own serial predictions."""

    family = "codesep-notf"


class CodeSepOracleAuxSystem(CodeSepSystem):
    """Oracle: predicted base tokens, auxiliary tokens of the true sources (an ATSP upper bound).

    Each BTDM output is paired with the reference whose stage-1 tokens it matches best,
    and takes that reference's codec tokens of stages 2..N.  The payload is still the
    base tokens only; the references are side information no real receiver has.
    """

    family = "codesep-oracle-aux"
    needs_references = True

    def _aux_tokens(self, item: LoadedMixture, base):
        from bench.systems.codesep.inference import match_to_references

        if item.sources is None:
            raise BenchError(f"system {self.name!r} is an oracle and needs the reference sources")
        reference = self.inference.reference_tokens(item.sources)          # [2, N, F]
        order = match_to_references(base, reference[:, 0])
        return reference[order, 1:]


class CodeSepNoATSPSystem(CodeSepSystem):
    """Ablation "w/o ATSP": the BTDM's base tokens decoded alone, one RVQ stage per speaker.

    Why: the paper credits the ATSP with speech quality ("the ATSP module improving speech
    quality", Section 4.5) but never decodes without it.  The codec's decoder is told the
    stage count N' (stage conditioning), so one stage is a regular operating point of the
    codec, not a truncated latent; the payload is the same 1 kbps of base tokens.
    """

    family = "codesep-noatsp"
    decoded_stages = 1

    def _aux_tokens(self, item: LoadedMixture, base):
        return base.new_zeros((base.shape[0], 0, base.shape[-1]))
