"""Full float32 on CUDA for evaluation, so a GPU run gives the CPU run's numbers.

PyTorch runs float32 convolutions (and, where enabled, matrix products) on recent NVIDIA
GPUs in TF32, which keeps 10 mantissa bits.  Measured on an H200: our MDCT no longer
reconstructs to 1e-5, and the RVQ's nearest-codevector search flips tokens, so payloads
and scores drift from the CPU's.  A benchmark's numbers must not depend on where they
were computed, so every system and the MDCT-RVQ codec switch TF32 off on CUDA.  The codec's
own training keeps PyTorch's defaults (speed wins there); the CodeSep and TokenSplit recipes
build the codec, so their target tokens are computed in full float32, as at inference.
"""

from __future__ import annotations

import torch


def use_exact_fp32(device: "str | torch.device") -> None:
    """Switch TF32 off for matrix products, convolutions and RNNs if ``device`` is CUDA.

    Process-wide (PyTorch has no per-module setting); a no-op on the CPU.
    """
    if torch.device(device).type != "cuda":
        return
    torch.backends.cuda.matmul.fp32_precision = "ieee"
    torch.backends.cudnn.conv.fp32_precision = "ieee"
    torch.backends.cudnn.rnn.fp32_precision = "ieee"
