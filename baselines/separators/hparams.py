"""A restricted reader of speechbrain's ``hyperparams.yaml`` that builds allow-listed modules only.

speechbrain model directories come from hubs and other labs, and their
``hyperparams.yaml`` is HyperPyYAML: ``!apply:os.system [...]``, ``!name:`` of any
callable, ``!include:`` of any file, and (through the unsafe YAML loaders hyperpyyaml
uses, also for ``(a, b)`` tuples) ``!!python/object/apply:`` all run code while the file
is read.  A separator needs far less: ``!new:`` and ``!name:`` of the speechbrain and
``torch.nn`` classes listed in :data:`ALLOWED`, references (``!ref <key>``,
``!ref <a[b]>``, ``!ref <x> * 2``, ``!copy``) and plain YAML values.

So the file is parsed into nodes with PyYAML's *safe* composer (nothing is constructed
while parsing), every tag in the whole file is checked against that list first (a
refused tag in an unused key is still refused), and only then are the requested keys
built, by this module, from the nodes.  A refused tag ends in one line naming the file
and the tag.
"""

from __future__ import annotations

import ast
import copy
import functools
import importlib
import operator
import re
from typing import Any, Iterable

import yaml

from bench.errors import BenchError

#: classes (and functions) a separation model's hyperparams may build with ``!new:`` / name with ``!name:``
ALLOWED = frozenset({
    *(f"speechbrain.lobes.models.dual_path.{name}" for name in (
        "Encoder", "Decoder", "Dual_Path_Model", "SBTransformerBlock", "SBRNNBlock", "SBConformerEncoderBlock",
        "DPTNetBlock", "PyTorchPositionalEncoding", "SepformerWrapper", "Dual_Computation_Block")),
    *(f"speechbrain.lobes.models.conv_tasnet.{name}" for name in ("Encoder", "Decoder", "MaskNet")),
    *(f"torch.nn.{name}" for name in (
        "ReLU", "PReLU", "GELU", "Sigmoid", "Tanh", "Softmax", "Identity", "Sequential", "ModuleList",
        "ModuleDict", "Linear", "Conv1d", "ConvTranspose1d", "LayerNorm", "GroupNorm", "Dropout", "LSTM", "GRU")),
})
#: allowed in a file (the public speechbrain models list it) but never built: the harness loads the weights itself
IGNORED = frozenset({"speechbrain.utils.parameter_transfer.Pretrainer"})

_STANDARD = "tag:yaml.org,2002:"
_SAFE_STANDARD = {f"{_STANDARD}{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")}
_REF = re.compile(r"<([^<>]+)>")
_TUPLE = re.compile(r"^\(.*\)$", re.DOTALL)
_MAX_NODES = 100_000
_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
               ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.USub: operator.neg,
               ast.UAdd: operator.pos}


def load_hparams(text: str, where: str, keys: Iterable[str] | None = None) -> dict[str, Any]:
    """Build the top-level ``keys`` (default: all but ``IGNORED`` objects) of a hyperparams text.

    Errors, including refused tags, are one-line :class:`BenchError`s starting with ``where``.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise BenchError(f"{where}: invalid YAML ({' '.join(str(exc).split())})") from None
    if root is None or not isinstance(root, yaml.MappingNode):
        raise BenchError(f"{where}: expected a mapping of names to values")
    check_tags(root, where)
    builder = _Builder(root, where)
    wanted = list(keys) if keys is not None else list(builder.top)
    return {key: builder.build(builder.top[key]) for key in wanted if key in builder.top}


def check_text(text: str, where: str, allowed: frozenset[str] = ALLOWED, ignored: frozenset[str] = IGNORED) -> None:
    """Refuse a hyperparams text with any tag outside ``allowed`` before another reader builds it.

    For files that speechbrain itself must build (the ECAPA speaker model of ``spk_sim``).
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise BenchError(f"{where}: invalid YAML ({' '.join(str(exc).split())})") from None
    if root is not None:
        check_tags(root, where, allowed, ignored)


def check_tags(root: yaml.Node, where: str, allowed: frozenset[str] = ALLOWED,
               ignored: frozenset[str] = IGNORED) -> None:
    """Refuse the whole file if any node anywhere carries a tag outside the allow-list."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if len(seen) > _MAX_NODES:
            raise BenchError(f"{where}: more than {_MAX_NODES} YAML nodes; not a model description")
        tag = node.tag
        if tag.startswith("!new:") or tag.startswith("!name:"):
            target = tag.partition(":")[2]
            if target not in allowed and not (tag.startswith("!new:") and target in ignored):
                raise BenchError(f"{where}: refused tag {tag} (only the model's own speechbrain modules and "
                                 "torch.nn layers may be built; a model file must not run other code)")
        elif tag in ("!ref", "!copy"):
            if not isinstance(node, yaml.ScalarNode):
                raise BenchError(f"{where}: {tag} must be followed by a <key> reference")
        elif tag not in _SAFE_STANDARD:
            shown = tag.replace(_STANDARD, "!!")
            raise BenchError(f"{where}: refused tag {shown} (allowed: !new:/!name: of listed modules, !ref, "
                             "!copy and plain values; !apply:, !module:, !include: and !!python tags run code)")
        elif isinstance(node, yaml.ScalarNode) and node.style is None and _TUPLE.match(str(node.value)) \
                and "!" in str(node.value):  # hyperpyyaml reads "(…)" with an unsafe YAML loader
            raise BenchError(f"{where}: refused tag inside the tuple {node.value!r}")
        if isinstance(node, yaml.MappingNode):
            stack.extend(v for pair in node.value for v in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


class _Builder:
    """Builds nodes into Python values, memoised per node, so references share one object."""

    def __init__(self, root: yaml.MappingNode, where: str) -> None:
        self.where = where
        self.top: dict[str, yaml.Node] = {}
        for key_node, value_node in root.value:
            self.top[str(self._plain(key_node))] = value_node
        self.built: dict[int, Any] = {}
        self.active: set[int] = set()
        self.count = 0

    def build(self, node: yaml.Node) -> Any:
        key = id(node)
        if key in self.built:
            return self.built[key]
        if key in self.active:
            raise BenchError(f"{self.where}: circular reference")
        self.count += 1
        if self.count > _MAX_NODES:
            raise BenchError(f"{self.where}: more than {_MAX_NODES} values; not a model description")
        self.active.add(key)
        try:
            value = self._build(node)
        finally:
            self.active.discard(key)
        self.built[key] = value
        return value

    def _build(self, node: yaml.Node) -> Any:
        tag = node.tag
        if tag in ("!ref", "!copy"):
            value = self._reference(str(node.value))
            return copy.deepcopy(value) if tag == "!copy" else value
        if tag.startswith("!new:") or tag.startswith("!name:"):
            target = tag.partition(":")[2]
            args, kwargs = self._arguments(node)
            if target in IGNORED:
                return None
            factory = _locate(target, self.where)
            try:
                if tag.startswith("!name:"):
                    return functools.partial(factory, *args, **kwargs) if (args or kwargs) else factory
                return factory(*args, **kwargs)
            except Exception as exc:  # wrong arguments for the class
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                raise BenchError(f"{self.where}: cannot build {target} ({type(exc).__name__}: {first})") from None
        if isinstance(node, yaml.MappingNode):
            return {str(self._plain(k)): self.build(v) for k, v in node.value}
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v) for v in node.value]
        return self._plain(node)

    def _arguments(self, node: yaml.Node) -> tuple[list[Any], dict[str, Any]]:
        if isinstance(node, yaml.MappingNode):
            return [], {str(self._plain(k)): self.build(v) for k, v in node.value}
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v) for v in node.value], {}
        return [], {}

    def _plain(self, node: yaml.Node) -> Any:
        """A scalar with a standard tag, as the safe loader reads it; ``(a, b)`` strings become tuples."""
        if not isinstance(node, yaml.ScalarNode):
            raise BenchError(f"{self.where}: line {node.start_mark.line + 1}: expected a plain value")
        value = yaml.SafeLoader("").construct_object(node)
        if isinstance(value, str) and node.style is None and _TUPLE.match(value):
            try:  # hyperpyyaml's implicit tuples, read as literals only
                literal = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                return value
            return literal if isinstance(literal, tuple) else value
        return value

    def _reference(self, text: str) -> Any:
        """``<key>``, ``<a[b][c]>``, or a string/arithmetic expression with such references."""
        refs = _REF.findall(text)
        if not refs:
            raise BenchError(f"{self.where}: reference {text!r} names no <key>")
        if _REF.fullmatch(text.strip()):
            return self._lookup(refs[0])

        def value_text(match: re.Match) -> str:
            value = self._lookup(match.group(1))
            return value if isinstance(value, str) else repr(value)

        substituted = _REF.sub(value_text, text)
        try:
            return _arithmetic(ast.parse(substituted, mode="eval").body)
        except (ValueError, SyntaxError, TypeError, ZeroDivisionError):
            return substituted

    def _lookup(self, path: str) -> Any:
        parts = re.findall(r"[^\[\]]+", path.strip())
        if not parts or parts[0] not in self.top:
            raise BenchError(f"{self.where}: reference <{path}> names no top-level key")
        node: yaml.Node = self.top[parts[0]]
        for part in parts[1:]:
            if not isinstance(node, yaml.MappingNode):
                raise BenchError(f"{self.where}: reference <{path}>: {part!r} is not inside a mapping")
            matches = [v for k, v in node.value if str(self._plain(k)) == part]
            if not matches:
                raise BenchError(f"{self.where}: reference <{path}>: no key {part!r}")
            node = matches[0]
        return self.build(node)


def _arithmetic(node: ast.AST) -> Any:
    """Numbers with + - * / // % only (no powers: ``9**9**9`` would hang the loader)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        return _ARITHMETIC[type(node.op)](_arithmetic(node.left), _arithmetic(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _ARITHMETIC:
        return _ARITHMETIC[type(node.op)](_arithmetic(node.operand))
    raise ValueError("not arithmetic")


def _locate(target: str, where: str) -> Any:
    """Import an allow-listed dotted name (only ever called with names in :data:`ALLOWED`)."""
    module_name, _, attr = target.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise BenchError(f"{where}: {target} is not available here ({exc})") from None
