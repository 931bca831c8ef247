"""Loading UTMOS22 strong weights from either published form onto :class:`UTMOS22Strong`.

(a) the single-file converted state dict that ``torch.hub.load("tarepan/SpeechMOS",
    "utmos22_strong")`` downloads (``utmos22_strong_step7459_v1.pt``): names already
    match our model;
(b) the official PyTorch Lightning checkpoint ``epoch=3-step=7459.ckpt`` with fairseq's
    ``wav2vec_small.pt``: the SSL weights are inside the Lightning checkpoint (as
    ``feature_extractors.0.ssl_model.*``), the fairseq file gives the SSL architecture
    (strides, heads); domain and listener tables are reduced to the rows inference
    uses (domain 0, listener 288).

Architecture sizes are read from tensor shapes, so tiny test checkpoints load with
the same code.  Checkpoints are unpickled without executing code: torch's
``weights_only`` loader first, and for files that embed training objects (Lightning
hyper-parameters, omegaconf) a restricted unpickler that rebuilds tensors and
replaces every other class by an inert record.
"""

from __future__ import annotations

import argparse
import ast
import pickle
import re
from pathlib import Path
from typing import Any, Mapping

import torch

from bench.metrics.utmos.model import DOMAIN_ID, JUDGE_ID, UtmosConfig, UTMOS22Strong
from bench.metrics.utmos.wav2vec2 import BASE_CONV_LAYERS, Wav2Vec2Config

SSL_PREFIX = "feature_extractors.0.ssl_model."


class Record(dict):
    """Stand-in for any class a checkpoint names that is not needed to rebuild tensors."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.__dict__.update(state)
        elif isinstance(state, tuple) and state and isinstance(state[-1], dict):
            self.__dict__.update(state[-1])


_SAFE_BUILTINS = {"set", "frozenset", "slice", "complex", "bytearray", "range", "dict", "list", "tuple", "int",
                  "float", "str", "bool", "bytes"}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name in ("OrderedDict", "defaultdict"):
            return super().find_class(module, name)
        if module == "builtins" and name in _SAFE_BUILTINS:
            return super().find_class(module, name)
        if module == "copyreg" and name in ("_reconstructor", "__newobj__"):
            return super().find_class(module, name)
        if module in ("torch._utils", "torch._tensor") and name.startswith("_rebuild"):
            return super().find_class(module, name)
        if module == "torch.nn.parameter" and name == "Parameter":
            return super().find_class(module, name)
        if module == "torch":
            value = getattr(torch, name, None)
            if isinstance(value, (torch.dtype, torch.device)) or name.endswith("Storage") or name in ("Size",
                                                                                                        "device"):
                return super().find_class(module, name)
        if module == "torch.storage" and name in ("UntypedStorage", "TypedStorage", "_load_from_bytes"):
            return super().find_class(module, name)
        return type(name, (Record,), {"__module__": f"stub.{module}"})


class _RestrictedPickle:
    """A ``pickle_module`` for :func:`torch.load` whose unpickler only rebuilds data."""

    Unpickler = _RestrictedUnpickler
    load = staticmethod(pickle.load)
    __name__ = "restricted_pickle"


def load_checkpoint(path: Path) -> Any:
    """Unpickle a checkpoint on CPU without running code from it."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_RestrictedPickle)


def _count(keys: Mapping[str, Any], pattern: str) -> int:
    found = {int(m.group(1)) for k in keys if (m := re.match(pattern, k))}
    return max(found) + 1 if found else 0


def _rename_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torch's parametrized weight norm names (``parametrizations.weight.original0/1``) -> ``weight_g/_v``."""
    out = {}
    for key, value in state.items():
        key = key.replace("parametrizations.weight.original0", "weight_g")
        key = key.replace("parametrizations.weight.original1", "weight_v")
        out[key] = value
    return out


def conv_layer_spec(text: str) -> list[tuple[int, int, int]]:
    """fairseq's ``conv_feature_layers`` string (a list expression with ``+`` and ``*``), without eval."""

    def value(node: ast.AST):
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [value(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = value(node.left), value(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        raise ValueError(f"unsupported conv_feature_layers expression: {text!r}")

    return [tuple(layer) for layer in value(ast.parse(text, mode="eval").body)]


def ssl_config(ssl_state: Mapping[str, torch.Tensor], fairseq_cfg: Mapping[str, Any] | None = None) -> Wav2Vec2Config:
    """wav2vec 2.0 sizes from tensor shapes; strides and heads from the fairseq config when given."""
    n_conv = _count(ssl_state, r"feature_extractor\.conv_layers\.(\d+)\.")
    cfg = dict(fairseq_cfg or {})
    if "conv_feature_layers" in cfg:
        strides = [s for _, _, s in conv_layer_spec(str(cfg["conv_feature_layers"]))]
    elif n_conv == len(BASE_CONV_LAYERS):
        strides = [s for _, _, s in BASE_CONV_LAYERS]
    else:
        raise ValueError(f"{n_conv} feature-encoder layers and no fairseq config to give their strides")
    conv = tuple((int(ssl_state[f"feature_extractor.conv_layers.{i}.0.weight"].shape[0]),
                  int(ssl_state[f"feature_extractor.conv_layers.{i}.0.weight"].shape[2]), int(strides[i]))
                 for i in range(n_conv))
    embed = int(ssl_state["post_extract_proj.weight"].shape[0])
    pos_v = ssl_state["encoder.pos_conv.0.weight_v"]
    return Wav2Vec2Config(
        conv_layers=conv, embed_dim=embed,
        ffn_dim=int(ssl_state["encoder.layers.0.fc1.weight"].shape[0]),
        num_layers=_count(ssl_state, r"encoder\.layers\.(\d+)\."),
        # wav2vec 2.0 uses 64-dimensional heads (base: 768 / 12) unless the config says otherwise
        num_heads=int(cfg.get("encoder_attention_heads", max(1, embed // 64))),
        pos_conv_kernel=int(pos_v.shape[2]), pos_conv_groups=embed // int(pos_v.shape[1]),
    )


def build_from_state(state: Mapping[str, torch.Tensor], fairseq_cfg: Mapping[str, Any] | None = None) -> UTMOS22Strong:
    """Our model from a state dict in form (a) names."""
    state = _rename_weight_norm(dict(state))
    ssl_state = {k[len("wav2vec2."):]: v for k, v in state.items() if k.startswith("wav2vec2.")}
    cfg = UtmosConfig(
        ssl=ssl_config(ssl_state, fairseq_cfg),
        domain_dim=int(state["domain_emb"].shape[1]), judge_dim=int(state["judge_emb"].shape[1]),
        rnn_hidden=int(state["blstm.weight_hh_l0"].shape[1]), proj_hidden=int(state["projection.0.weight"].shape[0]),
    )
    model = UTMOS22Strong(cfg)
    model.load_state_dict(state, strict=True)
    return model.eval()


def load_converted(path: Path) -> UTMOS22Strong:
    """Form (a): ``utmos22_strong_step7459_v1.pt``."""
    state = load_checkpoint(Path(path))
    if isinstance(state, Mapping) and "state_dict" in state and "domain_emb" not in state:
        state = state["state_dict"]
    return build_from_state(state)


def _fairseq_model_cfg(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """The model section of a fairseq checkpoint: ``args`` (old) or ``cfg["model"]`` (hydra era)."""
    if checkpoint.get("cfg") is not None:
        model = checkpoint["cfg"]["model"] if "model" in checkpoint["cfg"] else checkpoint["cfg"]
        return dict(model) if isinstance(model, Mapping) else dict(vars(model))
    args = checkpoint.get("args")
    return dict(vars(args)) if args is not None else {}


def official_to_converted(lightning_state: Mapping[str, torch.Tensor],
                          ssl_fallback: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Form (b) names -> form (a) names (what the converted checkpoint holds)."""
    state: dict[str, torch.Tensor] = {}
    for key, value in lightning_state.items():
        if key.startswith(SSL_PREFIX):
            state["wav2vec2." + key[len(SSL_PREFIX):]] = value
    if not state and ssl_fallback is not None:
        state = {f"wav2vec2.{k}": v for k, v in ssl_fallback.items()}
    keep = ("feature_extractor.", "layer_norm.", "post_extract_proj.", "encoder.", "mask_emb")
    state = {k: v for k, v in state.items() if k[len("wav2vec2."):].startswith(keep)}
    state["domain_emb"] = lightning_state["feature_extractors.1.embedding.weight"][DOMAIN_ID:DOMAIN_ID + 1].clone()
    state["judge_emb"] = lightning_state["output_layers.0.judge_embedding.weight"][JUDGE_ID:JUDGE_ID + 1].clone()
    for key, value in lightning_state.items():
        if key.startswith("output_layers.0.decoder_rnn."):
            state["blstm." + key[len("output_layers.0.decoder_rnn."):]] = value
    for src, dst in (("net.0", "projection.0"), ("net.3", "projection.2")):
        for part in ("weight", "bias"):
            state[f"{dst}.{part}"] = lightning_state[f"output_layers.1.{src}.{part}"]
    return state


def load_official(ckpt_path: Path, wav2vec_path: Path) -> UTMOS22Strong:
    """Form (b): Lightning ``epoch=3-step=7459.ckpt`` plus fairseq ``wav2vec_small.pt``."""
    lightning = load_checkpoint(Path(ckpt_path))
    fairseq = load_checkpoint(Path(wav2vec_path))
    state = lightning["state_dict"] if "state_dict" in lightning else lightning
    ssl_cfg = _fairseq_model_cfg(fairseq)
    if ssl_cfg.get("extractor_mode", "default") != "default" or ssl_cfg.get("layer_norm_first", False):
        raise ValueError(f"{wav2vec_path}: not a wav2vec 2.0 base-style model (layer_norm extractor / pre-norm)")
    converted = official_to_converted(_rename_weight_norm(dict(state)),
                                      _rename_weight_norm(dict(fairseq.get("model", {}))))
    return build_from_state(converted, ssl_cfg)
