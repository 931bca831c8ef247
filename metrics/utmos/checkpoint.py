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
the same code.  Checkpoints are unpickled without executing code, by torch's
``weights_only`` loader only: the training objects such files embed (Lightning
hyper-parameters, omegaconf, fairseq args) come back as inert records, from an explicit
allow-list of modules; every other name is refused.  (An earlier restricted unpickler
allowed ``torch.storage._load_from_bytes``, which runs a full unpickler on its argument.)
"""

from __future__ import annotations

import argparse
import ast
import pickle
import re
from pathlib import Path
from typing import Any, Mapping

import torch

from bench.errors import BenchError
from bench.metrics.utmos.model import DOMAIN_ID, JUDGE_ID, UtmosConfig, UTMOS22Strong
from bench.metrics.utmos.wav2vec2 import BASE_CONV_LAYERS, Wav2Vec2Config
from bench.safe_load import load_error_reason

SSL_PREFIX = "feature_extractors.0.ssl_model."


class Record(dict):
    """Stand-in for a class a checkpoint names that is not needed to rebuild tensors.

    It is what the name resolves to instead of the real class or function, so calling
    it, building it or setting its state only stores data: nothing is imported or run.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.__dict__.update(state)
        elif isinstance(state, tuple) and state and isinstance(state[-1], dict):
            self.__dict__.update(state[-1])


#: modules whose names a UTMOS training checkpoint pickles besides tensors: Lightning's hyper-parameters
#: (omegaconf configs, AttributeDict), fairseq's configs, type references inside them.  Their names are
#: rebuilt as inert :class:`Record` stand-ins; anything else (``os``, ``subprocess``, ``torch.storage``,
#: whose ``_load_from_bytes`` runs a full unpickler) is refused.  This list is the allow-list.
INERT_MODULES = ("omegaconf", "pytorch_lightning", "lightning_fabric", "lightning", "fairseq", "hydra",
                 "typing", "builtins", "pathlib", "numpy", "enum", "collections")
#: real classes a checkpoint may hold and that are themselves harmless containers
REAL_GLOBALS = (argparse.Namespace,)
_REAL_NAMES = frozenset(f"{c.__module__}.{c.__qualname__}" for c in REAL_GLOBALS)
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
_MAX_NAMES = 200


def _full_name(name: str) -> str:
    return name if "." in name else f"builtins.{name}"  # torch's messages drop the "builtins." prefix


def _inert(full_name: str) -> bool:
    module = full_name.rpartition(".")[0]
    return any(module == m or module.startswith(m + ".") for m in INERT_MODULES)


def _stand_in(full_name: str) -> tuple[type, str]:
    module, _, name = full_name.rpartition(".")
    return type(name, (Record,), {"__module__": f"stub.{module}"}), full_name


def load_checkpoint(path: Path) -> Any:
    """Unpickle a checkpoint on CPU without running code from it.

    torch's ``weights_only`` unpickler does the work (no full unpickler is ever used);
    names from :data:`INERT_MODULES` are allow-listed as inert stand-ins, and any other
    name is refused with one line naming the file and the name.
    """
    path = Path(path)
    names: list[str] = []
    try:  # zip checkpoints list their names up front; legacy ones reveal them one failed load at a time
        names = [_full_name(n) for n in torch.serialization.get_unsafe_globals_in_checkpoint(path)
                 if _full_name(n) not in _REAL_NAMES]
    except Exception:
        pass
    for _ in range(_MAX_NAMES):
        refused = [n for n in names if not _inert(n)]
        if refused:
            raise BenchError(f"{path}: refused: the checkpoint refers to {refused[0]}, which could run code "
                             "when loaded (only tensors, plain data and inert training records are read)")
        try:
            with torch.serialization.safe_globals([*REAL_GLOBALS, *(_stand_in(n) for n in names)]):
                return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            found = _GLOBAL.search(str(exc))
            if found is None or _full_name(found.group(1)) in names:
                raise BenchError(f"{path}: cannot load UTMOS weights: {load_error_reason(exc)}") from None
            names.append(_full_name(found.group(1)))  # the next round stands it in, or refuses it
        except FileNotFoundError:
            raise BenchError(f"{path}: UTMOS weights not found") from None
        except Exception as exc:  # truncated, not a torch file, ...
            raise BenchError(f"{path}: cannot load UTMOS weights: {load_error_reason(exc)}") from None
    raise BenchError(f"{path}: refers to more than {_MAX_NAMES} classes; not a UTMOS checkpoint")


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
