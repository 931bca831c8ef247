"""Cut Microsoft's DNSMOS networks into two time-local stages and a window-level head.

Why: both DNSMOS models (P.835 ``sig_bak_ovr.onnx``, P.808 ``model_v8.onnx``) spend
nearly all their time in convolutions at the full 900-frame resolution of a 9.01 s
window, and windows hop by 1 s, so consecutive windows share 8 s of audio.  Both are
3x3 convolutions and 2x2 max-pools over (time, frequency), and a 1 s hop is 100
frames, a multiple of 4, so up to the third max-pool every window's pooling grid
lines up with the clip's.  Those layers can run once over a whole clip
(:mod:`bench.metrics.dnsmos_share`), except near window edges, where a window's zero
padding differs from the clip's neighbouring frames.  Each model is cut into:

* **stage A** (input -> first ``MaxPool``): P.835: STFT, log power, four 3x3
  convolutions (pooled row ``p`` sees frames ``2p-4 .. 2p+5``, so ``keep = 2`` rows at
  each window edge differ from the clip's; an 8-frame piece at the edge reproduces
  them); P.808: one convolution (row ``p`` sees frames ``2p-1 .. 2p+2``; ``keep = 1``,
  4-frame pieces; its edge frames 0 and 899 are window-specific themselves);
* **stage B** (-> input of the third ``MaxPool``): the convolutions and the pool at 1/2
  and 1/4 resolution.  P.835 row ``q`` sees stage-A rows ``2q-3 .. 2q+4`` and P.808 row
  ``q`` rows ``2q-5 .. 2q+6``; with stage A's edge rows that makes ``keep = 3`` rows at
  each edge, recomputed from 10 (12) rows of the window's corrected stage-A output;
* **head** (the rest): the third max-pool (its grid no longer lines up: 25 is odd),
  convolutions, global max-pool and dense layers; it runs once per window.

``halo`` is the context a chunk needs on each side for its inner rows to be exact.
The parts are the original graph's own nodes and weights, re-wired in memory with the
``onnx`` package; nothing is stored.  The cut is found by structure (the start tensor
and the three ``MaxPool`` nodes), checked, and refused with a clear error for a graph
of another shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FRAME = 320  # samples per STFT frame inside the model (two 160-sample halves)
FRAME_HOP = 160
WINDOW_FRAMES = 900  # frames of one 9.01 s window


@dataclass(frozen=True)
class EdgeGeometry:
    """How a stage's output differs near a window edge, and how to recompute it.

    ``keep`` output rows at each edge differ from the clip-level map; an edge piece of
    ``piece`` input rows starting (ending) at the edge computes them exactly.  ``halo``
    input rows of context on each side make a chunk's inner output rows exact.
    """

    piece: int
    keep: int
    halo: int = 4


@dataclass(frozen=True)
class SplitModel:
    """Serialized ONNX models of the three parts and each stage's edge geometry."""

    stage_a: bytes
    stage_b: bytes
    head: bytes
    edges: tuple[EdgeGeometry, EdgeGeometry]


#: (stage A, stage B) edge geometry, derived in the module docstring
P835_EDGES = (EdgeGeometry(piece=8, keep=2, halo=4), EdgeGeometry(piece=10, keep=3, halo=4))
P808_EDGES = (EdgeGeometry(piece=4, keep=1, halo=2), EdgeGeometry(piece=12, keep=3, halo=6))


def split_p835(path: Path) -> SplitModel:
    """P.835: stage A maps frames [N, T, 320] (frame ``t`` = samples ``160t .. 160t+319``)
    to [N, 32, T/2, 80]; stage B to [N, 32, T/4, 40]; the head [N, 32, 225, 40] to raw
    SIG, BAK, OVRL [N, 3]."""
    import onnx

    model = onnx.load(str(path))
    concat = [n for n in model.graph.node if n.op_type == "Concat"]
    if len(concat) != 1:
        raise ValueError(f"{path}: not the DNSMOS P.835 graph this code knows (one frame Concat expected)")
    return _split(model, path, concat[0].output[0], [FRAME], (4, 2), P835_EDGES)


def split_p808(path: Path) -> SplitModel:
    """P.808: stage A maps features [N, T, 120] to [N, 32, T/2, 60]; stage B to
    [N, 32, T/4, 30]; the head [N, 32, 225, 30] to the raw P.808 MOS [N, 1]."""
    import onnx

    model = onnx.load(str(path))
    return _split(model, path, model.graph.input[0].name, [120], (1, 3), P808_EDGES)


def _split(model, path: Path, start: str, row_shape: list[int], convs: tuple[int, int],
           edges: tuple[EdgeGeometry, EdgeGeometry]) -> SplitModel:
    """Stage A (``start`` -> first MaxPool), stage B (-> third MaxPool's input), head (-> output)."""
    import onnx
    from onnx import TensorProto, helper

    graph = model.graph
    nodes = list(graph.node)
    pools = [n for n in nodes if n.op_type == "MaxPool"]
    if len(pools) != 3 or any(_kernel(n) != [2, 2] for n in pools):
        raise ValueError(f"{path}: not a DNSMOS graph this code knows (three 2x2 MaxPools expected)")
    pooled_a, pooled_b, output = pools[0].output[0], pools[2].input[0], graph.output[0].name
    parts = (_between(nodes, start, pooled_a), _between(nodes, pooled_a, pooled_b), _between(nodes, pooled_b, output))
    for part_nodes, count in zip(parts, convs):
        found = [n for n in part_nodes if n.op_type == "Conv" and len(n.input) == 3]
        if len(found) != count or any(_kernel(n) != [3, 3] for n in found):
            raise ValueError(f"{path}: expected {count} 3x3 convolution(s) in a time-local stage")

    def part(part_nodes, input_name, input_shape, output_name, output_shape, name) -> bytes:
        needed = {i for n in part_nodes for i in n.input}
        inits = [t for t in graph.initializer if t.name in needed]
        g = helper.make_graph(
            part_nodes, name,
            [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, input_shape)],
            [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, output_shape)],
            inits,
        )
        m = helper.make_model(g, opset_imports=model.opset_import)
        m.ir_version = model.ir_version
        onnx.checker.check_model(m)
        return m.SerializeToString()

    name, maps = Path(path).stem, ["N", "C", "R", "F"]
    return SplitModel(
        stage_a=part(parts[0], start, ["N", "T"] + row_shape, pooled_a, maps, f"{name}_a"),
        stage_b=part(parts[1], pooled_a, maps, pooled_b, maps, f"{name}_b"),
        head=part(parts[2], pooled_b, maps, output, ["N", "K"], f"{name}_head"),
        edges=edges,
    )


def _kernel(node) -> list[int]:
    from onnx import helper

    return next((list(helper.get_attribute_value(a)) for a in node.attribute if a.name == "kernel_shape"), [])


def _between(nodes, start: str, end: str) -> list:
    """The nodes that compute ``end`` from ``start`` (and weights), in graph order."""
    by_output = {o: n for n in nodes for o in n.output}
    keep: set[int] = set()
    stack = [end]
    while stack:
        name = stack.pop()
        node = by_output.get(name)
        if name == start or node is None or id(node) in keep:
            continue
        keep.add(id(node))
        stack.extend(node.input)
    return [n for n in nodes if id(n) in keep]
