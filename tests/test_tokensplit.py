"""TokenSplit: vocabulary offsets, layouts and output-order parsing, masking, partial-overlap stitching,
cached sampling against teacher forcing, semantic tokens with a tiny random SSL model, the systems."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.baselines.codecs.mdct_rvq.checkpoint import export_weights as export_codec
from bench.baselines.codecs.mdct_rvq.config import ModelConfig
from bench.baselines.codecs.mdct_rvq.model import MDCTRVQModel
from bench.config import BenchConfig
from bench.data.libri2mix import DatasetSpec, open_dataset
from bench.errors import BenchError
from bench.system import file_sha256
from bench.systems.tokensplit.blocks import make_plan, prompt, stitch
from bench.systems.tokensplit.config import MaskingConfig, TokenSplitConfig
from bench.systems.tokensplit.masking import mask_inputs
from bench.systems.tokensplit.model import TokenSplitModel, relative_bucket
from bench.systems.tokensplit.sequences import SequenceBuilder
from bench.systems.tokensplit.vocab import EOS, MASK, SEP, Vocabulary, refine_layouts, tokensplit_layouts
from libri2mix_tree import build_tree

SMALL = TokenSplitConfig(input_levels=2, output_levels=2, transcript_length=12, dim=32, heads=2,
                         encoder_layers=1, decoder_layers=2, ffn_dim=64, dropout=0.0)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


# -- vocabulary and layouts ----------------------------------------------------------------------------------
def test_vocabulary_offsets_and_round_trips():
    v = Vocabulary(transcript_vocab=256, semantic_vocab=100, codebook_size=1024, levels=3)
    assert (v.transcript_offset, v.semantic_offset, v.acoustic_offset) == (4, 260, 360)
    assert v.size == 4 + 256 + 100 + 3 * 1024
    w = v.transcript("Hi there", 10)
    assert w.tolist() == [4 + ord(c) for c in "hi there"] + [MASK, MASK]
    assert v.text(w) == "hi there"
    codes = torch.tensor([[5, 6, 7], [0, 1023, 2], [9, 9, 9]])            # [Q=3, F=3]
    flat = v.acoustic(codes)
    # frame-major: (level 1, 2, 3) of frame 1, then of frame 2, ...; level q shifted by q * M
    assert flat.tolist() == [365, 360 + 1024, 369 + 2048, 366, 360 + 1024 + 1023, 369 + 2048, 367, 362 + 1024, 369 + 2048]
    assert torch.equal(v.codes(flat, 3), codes)
    assert v.semantic(torch.tensor([0, 99])).tolist() == [260, 359]
    with pytest.raises(ValueError):
        v.acoustic(torch.zeros(4, 2, dtype=torch.long))


def test_layouts_assemble_and_parse_the_output_order():
    cfg = replace(SMALL, output_levels=2)
    b = SequenceBuilder(cfg, frames=5)
    c1 = torch.arange(10).reshape(2, 5)
    c2 = torch.arange(10, 20).reshape(2, 5)
    target = b.tokensplit_target(c1, c2, "ab", "xyz")
    out = b.output_layout
    # A1 (5 frames x 2 levels), SEP, A2, SEP, W1 (12), SEP, W2 (12), EOS
    assert out.length == 10 + 1 + 10 + 1 + 12 + 1 + 12 + 1
    assert target[10] == SEP and target[21] == SEP and target[34] == SEP and target[-1] == EOS
    parsed = b.parse_output(target)
    assert torch.equal(parsed["A1"], c1) and torch.equal(parsed["A2"], c2)
    assert parsed["W1"] == "ab" and parsed["W2"] == "xyz"
    assert out.split(target)["A2"].tolist() == b.vocab.acoustic(c2).tolist()
    allowed = out.allowed(b.vocab)
    assert allowed[torch.arange(out.length), target].all()               # the true sequence is allowed
    assert allowed[0].sum() == 1024 and allowed[1].sum() == 1024          # one level's range per position
    lo = b.vocab.acoustic_offset
    assert allowed[0, lo] and not allowed[1, lo] and allowed[1, lo + 1024]
    assert allowed[10].tolist() == [i == SEP for i in range(b.vocab.size)]
    inp = b.tokensplit_input(None, "hey", c1)
    assert inp[:12].tolist() == [MASK] * 12 and b.vocab.text(inp[13:25]) == "hey"


def test_refine_layout_and_semantic_streams():
    inp, out = refine_layouts(frames=4, input_levels=2, output_levels=1, transcript_length=6)
    assert inp.names() == ["W", "A_mix", "A_est"] and inp.length == 6 + 1 + 8 + 1 + 8
    assert out.names() == ["A"] and out.length == 4 + 1
    inp, out = tokensplit_layouts(frames=4, input_levels=1, output_levels=1, transcript_length=6, semantic_frames=3)
    assert inp.names() == ["W1", "W2", "S_mix", "A_mix"]
    assert out.names() == ["A1", "A2", "S1", "S2", "W1", "W2"]


# -- masking ------------------------------------------------------------------------------------------------
def test_masking_whole_streams_and_frame_aligned_regions():
    b = SequenceBuilder(SMALL, frames=20)
    seq = torch.stack([b.tokensplit_input("hello", "world", torch.randint(0, 1024, (2, 20))) for _ in range(64)])
    layout = b.input_layout
    g = torch.Generator().manual_seed(0)
    all_w = MaskingConfig(transcript_stream=1.0, semantic_stream=0.0, acoustic_stream=0.0, region=0.0)
    masked, whole = mask_inputs(seq, layout, all_w, g)
    assert (masked[:, layout.slices["W1"]] == MASK).all() and (masked[:, layout.slices["W2"]] == MASK).all()
    assert torch.equal(masked[:, layout.slices["A_mix"]], seq[:, layout.slices["A_mix"]]) and whole["W1"].all()
    regions = MaskingConfig(transcript_stream=0.0, semantic_stream=0.0, acoustic_stream=0.0, region=1.0,
                            region_fraction=(0.2, 0.2))
    masked, _ = mask_inputs(seq, layout, regions, torch.Generator().manual_seed(1))
    a = masked[:, layout.slices["A_mix"]].reshape(64, 20, 2)
    frame_masked = (a == MASK)
    assert torch.equal(frame_masked[..., 0], frame_masked[..., 1])          # whole frames only
    assert (frame_masked[..., 0].sum(1) == 4).all()                          # 20 % of 20 frames, contiguous
    starts = frame_masked[..., 0].float().argmax(1)
    for row, s in enumerate(starts.tolist()):
        assert frame_masked[row, s:s + 4, 0].all()
    again, _ = mask_inputs(seq, layout, regions, torch.Generator().manual_seed(1))
    assert torch.equal(masked, again)                                        # seeded: deterministic
    none, _ = mask_inputs(seq, layout, MaskingConfig(0.0, 0.0, 0.0, 0.0), g)
    assert torch.equal(none, seq)


# -- partial-overlap decoding -----------------------------------------------------------------------------------
def test_block_plan_prompt_and_stitching_on_hand_made_tokens():
    plan = make_plan(block_samples=48000, hop_samples=32000, samples_per_frame=320, block_frames=151)
    assert (plan.hop_frames, plan.overlap_frames) == (100, 51)
    assert plan.starts(48000) == [0] and plan.starts(30000) == [0]
    assert plan.starts(48001) == [0, 32000] and plan.starts(112000) == [0, 32000, 64000]
    assert plan.cut(np.ones(50000, np.float32), 32000).tolist() == [1.0] * 18000 + [0.0] * 30000
    truth = torch.arange(2 * 400).reshape(2, 400)                             # [Q=2, F]: a "true" long stream
    blocks = [truth[:, k * 100:k * 100 + 151] for k in range(3)]            # what each block would predict
    assert torch.equal(stitch(blocks, plan), truth[:, :351])
    flat_prev = blocks[0].t().reshape(-1)                                    # frame-major, 2 levels
    forced = prompt(flat_prev, plan, levels=2)
    assert torch.equal(forced[:102], blocks[1].t().reshape(-1)[:102])        # the previous block's last 51 frames
    assert (forced[102:] == -1).all()
    with pytest.raises(ValueError, match="whole number"):
        make_plan(48000, 32100, 320, 151)


# -- the network --------------------------------------------------------------------------------------------------
def test_relative_buckets():
    d = torch.arange(-300, 301)
    bi = relative_bucket(d, True, 32, 128)
    assert bi.min() >= 0 and bi.max() < 32
    assert bi[300] == 0 and len(set(bi[d < 0].tolist()) & set(bi[d > 0].tolist())) == 0   # sign kept
    causal = relative_bucket(d, False, 32, 128)
    assert (causal[d >= 0] == 0).all() and causal.max() == 31
    assert (causal[:-1][d[:-1] < 0] >= causal[1:][d[:-1] < 0]).all()          # farther back, same or larger bucket


def _model(cfg: TokenSplitConfig, frames: int) -> tuple[TokenSplitModel, SequenceBuilder]:
    torch.manual_seed(0)
    b = SequenceBuilder(cfg, frames)
    return TokenSplitModel(cfg, b.vocab.size, b.input_layout.length, b.output_layout.length).eval(), b


def test_cached_greedy_generation_equals_teacher_forced_argmax():
    model, b = _model(SMALL, frames=6)
    inputs = torch.stack([b.tokensplit_input("hi", None, torch.randint(0, 1024, (2, 6))) for _ in range(2)])
    allowed = b.output_layout.allowed(b.vocab)
    out = model.generate(inputs, allowed, temperature=0.0)
    assert allowed[torch.arange(out.shape[1]), out].all()                     # every token in its stream's range
    logits = model(inputs, out).masked_fill(~allowed, float("-inf"))
    assert torch.equal(logits.argmax(-1), out)                                # KV cache == full recomputation
    forced = torch.full_like(out, -1)
    forced[:, :7] = b.vocab.acoustic(torch.full((2, 6), 3))[:7]
    sampled = model.generate(inputs, allowed, forced, temperature=1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(sampled[:, :7], forced[:, :7])
    again = model.generate(inputs, allowed, forced, temperature=1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(sampled, again)


# -- semantic tokens with a tiny random SSL stand-in ---------------------------------------------------------
def test_semantic_tokens_with_a_tiny_random_ssl_model(tmp_path: Path):
    from torchaudio.models import wav2vec2_model

    from bench.systems.tokensplit.semantic import SemanticTokenizer, fit_kmeans, layer_features

    torch.manual_seed(0)
    ssl = wav2vec2_model(extractor_mode="group_norm", extractor_conv_layer_config=[(16, 10, 5), (16, 4, 4), (16, 4, 4)],
                         extractor_conv_bias=False, encoder_embed_dim=24, encoder_projection_dropout=0.0,
                         encoder_pos_conv_kernel=8, encoder_pos_conv_groups=4, encoder_num_layers=2,
                         encoder_num_heads=2, encoder_attention_dropout=0.0, encoder_ff_interm_features=32,
                         encoder_ff_interm_dropout=0.0, encoder_dropout=0.0, encoder_layer_norm_first=False,
                         encoder_layer_drop=0.0, aux_num_out=None).eval()
    waves = torch.randn(3, 16000) * 0.1
    feats = layer_features(ssl, waves, 1)
    assert feats.shape[0] == 3 and feats.shape[1] == 199    # valid convolutions: (((16000-10)//5+1 - 4)//4+1 - 4)//4+1
    centroids = fit_kmeans(feats.reshape(-1, 24), k=8, iterations=10)
    scripted = tmp_path / "ssl.pt"
    torch.jit.script(ssl).save(str(scripted))
    tokenizer = SemanticTokenizer(ssl, 1, centroids, f"torchscript:{scripted}")
    tokenizer.save(tmp_path / "semantic")
    with pytest.raises(BenchError, match="TorchScript file is code.*--trust-torchscript"):
        SemanticTokenizer.load(tmp_path / "semantic")             # a program, refused unless trusted
    loaded = SemanticTokenizer.load(tmp_path / "semantic", trust_torchscript=True)
    tokens = loaded(waves)
    assert torch.equal(tokens, tokenizer(waves)) and tokens.shape == (3, 199)
    assert tokens.min() >= 0 and tokens.max() < 8 and len(tokens.unique()) > 1
    cfg = replace(SMALL, semantic_vocab=8, semantic_frames=199)
    model, b = _model(cfg, frames=4)
    inp = b.tokensplit_input(None, None, torch.zeros(2, 4, dtype=torch.long), tokens[0])
    target = b.tokensplit_target(torch.zeros(2, 4, dtype=torch.long), torch.ones(2, 4, dtype=torch.long), "a", "b",
                                 tokens[1], tokens[2])
    assert torch.equal(b.parse_output(target)["S2"], tokens[2])
    assert model(inp[None], target[None]).shape == (1, b.output_layout.length, b.vocab.size)
    with pytest.raises(BenchError, match="expected"):
        from bench.systems.tokensplit.semantic import load_ssl

        load_ssl("hub:hubert")


def test_kmeans_recovers_separated_clusters():
    from bench.systems.tokensplit.semantic import fit_kmeans

    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = torch.cat([c + 0.1 * torch.randn(50, 2, generator=g) for c in centres])
    found = fit_kmeans(points, 3, seed=1)
    order = torch.cdist(centres, found).argmin(1)
    assert sorted(order.tolist()) == [0, 1, 2]
    assert torch.allclose(found[order], centres, atol=0.1)


# -- the systems, end to end -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tied_weights(tmp_path_factory) -> tuple[Path, Path]:
    """A random small codec and random small TokenSplit / Refine weights tied to it."""
    from bench.baselines.codecs.mdct_rvq.codec import MDCTRVQCodec
    from bench.systems.tokensplit.checkpoint import export_weights

    folder = tmp_path_factory.mktemp("tokensplit")
    torch.manual_seed(0)
    codec_model = MDCTRVQModel(ModelConfig(channels=16, latent_channels=16, encoder_depth=(1, 1), decoder_depth=(1, 1)))
    for stage in codec_model.quantizer.stages:
        stage.codebook.normal_()
    codec_file = folder / "codec.pt"
    export_codec(codec_model, codec_file, {"note": "random test codec"})
    frames = MDCTRVQCodec(codec_file).num_frames(48000, 1)
    for refine, name in ((False, "ts.pt"), (True, "refine.pt")):
        cfg = replace(SMALL, refine=refine, output_levels=1)
        model, _ = _model(cfg, frames)
        export_weights(model, frames, folder / name, file_sha256(codec_file), {"test": True})
    return folder, codec_file


def _config(folder: Path, codec_file: Path, names: dict[str, dict]) -> BenchConfig:
    return BenchConfig(systems={n: {"checkpoint": str(folder / ("refine.pt" if "refine" in fam["family"] else "ts.pt")),
                                    "codec_checkpoint": str(codec_file), **fam} for n, fam in names.items()})


def test_systems_run_deterministically_with_stitching_and_transcripts(tied_weights, tmp_path: Path, monkeypatch):
    import sqlite3

    from bench.run.runner import RunRequest, run
    from bench.store import Store

    folder, codec_file = tied_weights
    # mixtures of 4 s: two blocks each, so partial-overlap decoding runs
    tree = build_tree(tmp_path / "data", lengths={"1089-134686-0000_121-121726-0001": 64000,
                                                  "2300-131720-0000_121-121726-0003": 40000}, mix_types=("mix_clean",))
    dataset = open_dataset(DatasetSpec(root=tree))
    names = {"tokensplit": {"family": "tokensplit"}, "tokensplit-refine": {"family": "tokensplit-refine"}}
    config = _config(folder, codec_file, names)

    class StandInASR:
        config = "stand-in"

        def transcribe(self, audio, rate):
            return "a b c d"

    import bench.metrics.dwer as dwer

    monkeypatch.setattr(dwer, "get_recognizer", lambda *a, **k: StandInASR())
    summaries = []
    for results in ("r1", "r2"):
        store = Store(tmp_path / results)
        summaries.append(run(RunRequest(systems=["mixture", *names], metrics=["sisnri", "tdwer"]), dataset, store,
                             config))
    assert summaries[0].separated == {"mixture": 2, "tokensplit": 2, "tokensplit-refine": 2}
    rows = []
    for results in ("r1", "r2"):
        with sqlite3.connect(tmp_path / results / "bench.sqlite") as conn:
            rows.append(conn.execute("SELECT m.mixture_id, m.source_index, m.metric, m.field, m.value, m.status "
                                     "FROM metric_values m ORDER BY 1, 2, 3, 4, 5, 6").fetchall())
            infos = [r[0] for r in conn.execute("SELECT info_json FROM separations").fetchall()]
            tdwer = conn.execute("SELECT s.name, m.status, m.reason, m.value FROM metric_values m JOIN systems s "
                                 "ON s.system_key = m.system_key WHERE m.metric = 'tdwer' AND m.field = ''").fetchall()
    assert rows[0] == rows[1] and len(rows[0]) >= 8                           # seeded sampling: identical reruns
    assert sum('"transcripts"' in i for i in infos) == 2                       # TokenSplit stores its W outputs
    by_system = {}
    for name, status, reason, value in tdwer:
        by_system.setdefault(name, set()).add((status, reason, value is None))
    # systems without transcripts are unavailable with the reason; TokenSplit's own texts are scored
    assert by_system["mixture"] == by_system["tokensplit-refine"] == {("unavailable", "the system produces no transcripts", True)}
    assert all(status == "ok" and not missing for status, _, missing in by_system["tokensplit"])


def test_transcript_modes_need_references_and_validate(tied_weights):
    from bench.catalog import build_system
    from bench.config import resolve_system_spec
    from bench.records import LoadedMixture

    folder, codec_file = tied_weights
    config = _config(folder, codec_file, {"tokensplit-target": {"family": "tokensplit-target"},
                                          "ts-bad": {"family": "tokensplit", "tr": "sometimes"},
                                          "tsr-both": {"family": "tokensplit-refine", "tr": "both"}})
    system = build_system(resolve_system_spec("tokensplit-target", config))
    assert system.needs_references and system.tr == "target"
    texts = iter(["one", "two"])
    system._transcript = lambda item, i, start: next(texts)  # noqa: E731 - no ASR in this test
    rng = np.random.default_rng(0)
    item = LoadedMixture(record=type("R", (), {"mixture_id": "m"})(), mixture=rng.standard_normal(16000).astype(np.float32),
                         sources=rng.standard_normal((2, 16000)).astype(np.float32))
    result = system.separate([item])[0]
    assert result.estimates.shape == (2, 16000) and result.info["tr"] == "target"
    with pytest.raises(BenchError, match="tr must be one of"):
        build_system(resolve_system_spec("ts-bad", config))
    with pytest.raises(BenchError, match="one source at a time"):
        build_system(resolve_system_spec("tsr-both", config))


def test_weights_tied_to_their_codec(tied_weights, tmp_path: Path):
    from bench.systems.tokensplit.adapter import TokenSplitSystem
    from bench.systems.tokensplit.checkpoint import load_weights

    folder, codec_file = tied_weights
    other = tmp_path / "other.pt"
    torch.manual_seed(9)
    export_codec(MDCTRVQModel(ModelConfig(channels=16, latent_channels=16, encoder_depth=(1, 1), decoder_depth=(1, 1))),
                 other, {})
    status = TokenSplitSystem.weights_status(checkpoint=str(folder / "ts.pt"), codec_checkpoint=str(other))
    assert status.startswith("missing:") and "retrain" in status
    with pytest.raises(BenchError, match="holds tokensplit-refine weights"):
        load_weights(folder / "refine.pt", "tokensplit", codec_file)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(BenchError, match="bad.pt"):
        load_weights(bad, "tokensplit", codec_file)


def test_tdwer_scores_the_system_transcript():
    from bench.metrics.base import MetricInput
    from bench.metrics.dwer import TranscriptDWER

    metric = TranscriptDWER()

    class FixedASR:
        config = "fixed"

        def transcribe(self, audio, rate):
            return "the cat sat on the mat"

    metric._recognizer = FixedASR()
    z = np.zeros(160, np.float32)
    item = MetricInput(estimate=z, reference=z + 1, mixture=z, sample_rate=16000, mixture_id="m", source_index=0,
                       system_transcript="the cat sat on a hat")
    assert metric.compute(item) == {"": pytest.approx(100 * 2 / 6), "errors": 2.0, "ref_len": 6.0}
    with pytest.raises(ValueError, match="no transcripts"):
        metric.compute(MetricInput(**{**vars(item), "system_transcript": None}))


@pytest.mark.parametrize("refine", [False, True])
def test_training_recipe_runs_resumes_and_exports(refine: bool, tied_weights, tmp_path: Path, monkeypatch):
    """Two short invocations (the second resumes), on a tiny tree, with a stand-in recogniser."""
    import argparse

    import bench.metrics.asr as asr
    from bench.systems.tokensplit import trainer as trainer_module
    from bench.systems.tokensplit.checkpoint import load_weights
    from bench.systems.tokensplit.config import PRESETS, TrainSchedule
    from bench.systems.tokensplit.recipe import add_arguments

    class StandInASR:
        config = "stand-in"

        def transcribe(self, audio, rate):
            return "loud" if float(np.abs(audio).mean()) > 0.05 else "soft"

    monkeypatch.setattr(asr, "get_recognizer", lambda *a, **k: StandInASR())
    small = replace(SMALL, output_levels=1, transcript_length=8)
    monkeypatch.setitem(trainer_module.PRESETS, "tiny", (small, TrainSchedule(
        batch_size=2, learning_rate=1e-3, warmup_steps=2, max_steps=4, eval_every=2, log_every=1)))
    assert PRESETS["tiny"][0] is small
    _, codec_file = tied_weights
    base = tmp_path / "data"
    build_tree(base, mix_types=("mix_clean",))
    # a "dev" split: the same tree's CSV under the dev name
    meta = base / "Libri2Mix" / "wav16k" / "min" / "metadata"
    (meta / "mixture_dev_mix_clean.csv").write_text((meta / "mixture_test_mix_clean.csv").read_text())
    out = tmp_path / "weights.pt"
    parser = argparse.ArgumentParser()
    add_arguments(parser)

    def options(steps: int) -> "trainer_module.TrainOptions":
        argv = ["--data", str(base), "--split", "test", "--dev", str(base), "--out", str(out),
                "--codec-checkpoint", str(codec_file), "--steps", str(steps), "--pool-size", "4"]
        return trainer_module.TrainOptions.from_args(parser.parse_args(argv + (["--refine"] if refine else [])))

    assert trainer_module.train(options(2))["step"] == 2
    assert trainer_module.train(options(4))["step"] == 4                   # resumed from the saved state
    lines = [json.loads(line) for line in (tmp_path / "weights.pt.work" / "log.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2, 2, 3, 4, 4]          # steps logged, evaluations at 2 and 4
    assert [bool(line.get("eval")) for line in lines] == [False, False, True, False, False, True]
    assert ("dev_acc" in lines[-1]) is not refine                          # TokenSplit has a dev score
    model, frames = load_weights(out, "tokensplit-refine" if refine else "tokensplit", codec_file)
    assert frames == 151                                                    # codec frames of one 3 s block
    assert model.cfg.refine is refine and model.cfg.transcript_length == 8


def test_training_asr_resumes_from_its_partial_save(tmp_path, monkeypatch) -> None:
    """A run killed during the ASR of the training blocks keeps what it recognised in whole saves."""
    import json

    from bench.systems.tokensplit import data as ts_data

    monkeypatch.setattr(ts_data, "TRANSCRIPT_SAVE_EVERY", 3)
    audio = np.stack([np.full(10, k, dtype=np.float32) for k in range(8)])
    heard: list[int] = []

    class Recognizer:
        def __init__(self, fail_at: int | None) -> None:
            self.fail_at = fail_at

        def transcribe(self, block, rate):
            k = int(block[0])
            if k == self.fail_at:
                raise KeyboardInterrupt
            heard.append(k)
            return f"block {k}"

    path = tmp_path / "transcripts.json"
    with pytest.raises(KeyboardInterrupt):
        ts_data._transcribe_resumably(Recognizer(fail_at=7), audio, path)
    assert json.loads((tmp_path / "transcripts.json.partial").read_text()) == [f"block {k}" for k in range(6)]
    heard.clear()
    texts = ts_data._transcribe_resumably(Recognizer(fail_at=None), audio, path)
    assert heard == [6, 7] and texts == [f"block {k}" for k in range(8)]
    assert json.loads(path.read_text()) == texts and not (tmp_path / "transcripts.json.partial").exists()
    path.write_text('{"not": "a list"}')
    assert ts_data._cached_texts(path) is None


def test_a_shared_cache_spares_the_second_run_its_asr(tied_weights, tmp_path: Path, monkeypatch):
    """`--cache DIR` for TokenSplit then TokenSplitRefine: the transcripts are made once."""
    import argparse

    import bench.metrics.asr as asr
    from bench.systems.tokensplit import trainer as trainer_module
    from bench.systems.tokensplit.config import TrainSchedule
    from bench.systems.tokensplit.recipe import add_arguments

    calls: list[int] = []

    class CountingASR:
        config = "counting"

        def transcribe(self, audio, rate):
            calls.append(1)
            return "word"

    monkeypatch.setattr(asr, "get_recognizer", lambda *a, **k: CountingASR())
    small = replace(SMALL, output_levels=1, transcript_length=8)
    monkeypatch.setitem(trainer_module.PRESETS, "tiny", (small, TrainSchedule(
        batch_size=2, learning_rate=1e-3, warmup_steps=1, max_steps=1, eval_every=1, log_every=1)))
    _, codec_file = tied_weights
    base = tmp_path / "data"
    build_tree(base, mix_types=("mix_clean",))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    shared = tmp_path / "shared-cache"

    def train(name: str, *extra: str) -> None:
        argv = ["--data", str(base), "--split", "test", "--out", str(tmp_path / f"{name}.pt"),
                "--codec-checkpoint", str(codec_file), "--steps", "1", "--cache", str(shared), *extra]
        trainer_module.train(trainer_module.TrainOptions.from_args(parser.parse_args(argv)))

    train("tokensplit")
    first = len(calls)
    assert first > 0 and list(shared.glob("transcripts-*.json"))
    assert not (tmp_path / "tokensplit.pt.work" / "cache").exists()
    train("refine", "--refine", "--pool-size", "2")
    assert len(calls) == first
