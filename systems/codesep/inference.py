"""CodeSep inference around the codec: mixture -> base tokens -> auxiliary tokens -> waves.

Shared by the adapter (``bench run``) and the training recipe's validation, so both
measure exactly the same system.
"""

from __future__ import annotations

import numpy as np
import torch

from bench.errors import BenchError
from bench.systems.codesep.model import ATSP, BTDM


def codec_codebooks(codec, num_stages: int) -> torch.Tensor:
    """W_1..W_N of the codec stacked as [N, M, K] (the frozen look-up tables of eq. (5))."""
    if codec.num_stages < num_stages:
        raise BenchError(f"CodeSep needs {num_stages} RVQ stages; the codec has {codec.num_stages}")
    return torch.stack([codec.codebook(n).detach() for n in range(num_stages)])


def check_framing(btdm: BTDM, codec) -> None:
    """The BTDM's mel framing must land exactly on the codec's token frames."""
    if btdm.logmel.samples_per_token_frame != codec.model.cfg.samples_per_frame:
        raise BenchError(f"CodeSep BTDM frames every {btdm.logmel.samples_per_token_frame} samples, "
                         f"the codec every {codec.model.cfg.samples_per_frame}")


class CodeSepInference:
    """The assembled system: codec (frozen), BTDM and, unless oracle, ATSP."""

    def __init__(self, codec, btdm: BTDM, atsp: ATSP | None, device: str = "cpu") -> None:
        self.codec = codec
        self.device = torch.device(device)
        self.btdm = btdm.to(self.device).eval()
        check_framing(self.btdm, codec)
        self.atsp = atsp.to(self.device).eval() if atsp is not None else None
        self.num_stages = atsp.cfg.num_stages if atsp is not None else 4
        if self.atsp is not None:
            self.atsp.set_codebooks(codec_codebooks(codec, self.num_stages).to(self.device))

    def frames(self, num_samples: int) -> int:
        """Token frames the codec uses for a wave of ``num_samples``."""
        return int(self.codec.num_frames(num_samples, 1))

    @torch.no_grad()
    def base_tokens(self, mixture: np.ndarray) -> torch.Tensor:
        """d_base^(1), d_base^(2): [2, F] for a mixture [T] (eq. 2)."""
        wave = torch.as_tensor(np.asarray(mixture, dtype=np.float32), device=self.device)[None]
        return self.btdm.base_tokens(wave, self.frames(wave.shape[-1]))[0]

    @torch.no_grad()
    def aux_tokens(self, base: torch.Tensor) -> torch.Tensor:
        """d_aux [2, N-1, F] predicted serially for each speaker (the branches share weights)."""
        if self.atsp is None:
            raise BenchError("this CodeSep variant has no ATSP")
        return self.atsp.predict(base)

    @torch.no_grad()
    def reference_tokens(self, sources: np.ndarray) -> torch.Tensor:
        """Codec tokens d_1..d_N [S, N, F] of the true sources (for the oracle variant)."""
        return self.codec.encode_tokens(np.asarray(sources, dtype=np.float32), self.num_stages).to(self.device)

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor, num_samples: int) -> np.ndarray:
        """Sum of the N codevectors per frame -> codec decoder -> waves [S, num_samples]."""
        z_q = self.codec.latent_from_tokens(tokens)
        wave = self.codec.decode_from_latent(z_q, num_samples, tokens.shape[-2]).float().cpu().numpy()
        if wave.shape[-1] < num_samples:
            wave = np.pad(wave, ((0, 0), (0, num_samples - wave.shape[-1])))
        return wave[:, :num_samples].astype(np.float32)


def match_to_references(base: torch.Tensor, reference: torch.Tensor) -> list[int]:
    """For each BTDM output, the reference source whose first-stage tokens agree with it most.

    base [2, F], reference [2, F]; returns the permutation (as a list) with the most
    equal tokens, used by the oracle to pair predicted base tokens with true auxiliary ones.
    """
    keep = (base[0] == reference[0]).sum() + (base[1] == reference[1]).sum()
    swap = (base[0] == reference[1]).sum() + (base[1] == reference[0]).sum()
    return [1, 0] if int(swap) > int(keep) else [0, 1]
