"""The built-in registrations: one line per system family and per metric.

Adding a system or metric means one new module and one line here (or an entry
point in another package's metadata, group ``jsac_bench.systems`` /
``jsac_bench.metrics``).  Targets are strings, imported only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.errors import BenchError
from bench.options import check_options
from bench.registry import Registry

if TYPE_CHECKING:
    from bench.config import SystemSpec
    from bench.metrics.base import Metric
    from bench.system import System

SYSTEMS: Registry = Registry("system", "jsac_bench.systems")
METRICS: Registry = Registry("metric", "jsac_bench.metrics")
#: training recipes for `bench train <name>`: modules with light top-level imports that define
#: ``add_arguments(parser)`` and ``run(args) -> int`` (heavy imports go inside ``run``)
RECIPES: Registry = Registry("training recipe", "jsac_bench.trainers")

# -- systems: family name -> System subclass; `listed` is what `bench systems` shows
SYSTEMS.register("mixture", "bench.baselines.reference:MixtureSystem", listed=["mixture"])
SYSTEMS.register("clean", "bench.baselines.reference:CleanSystem", listed=["clean"])
# `takes_codec`: the family accepts a codec in its name, `fstc-dac@2` = fstc with codec = "dac16k"
SYSTEMS.register("codec", "bench.baselines.codec_only:CodecOnlySystem", takes_codec=True,
                 listed=["codec@1", "codec@2", "codec@8", "codec-dac@2", "codec-encodec@3", "codec-mimi@1.1"])
SYSTEMS.register("sepformer", "bench.baselines.separators.system:SepformerSystem", listed=["sepformer"])
# hub separators: the sepformer family with `model_dir` preset to the hub id (`preset` options come first)
SYSTEMS.register("sepformer-libri2mix", "bench.baselines.separators.system:SepformerSystem",
                 listed=["sepformer-libri2mix"], preset={"model_dir": "speechbrain/sepformer-libri2mix"})
SYSTEMS.register("sepformer-whamr16k", "bench.baselines.separators.system:SepformerSystem",
                 listed=["sepformer-whamr16k"], preset={"model_dir": "speechbrain/sepformer-whamr16k"})
SYSTEMS.register("fcts", "bench.baselines.pipelines:FCTSSystem", takes_codec=True,
                 listed=["fcts@1", "fcts-encodec@6"])
SYSTEMS.register("fstc", "bench.baselines.pipelines:FSTCSystem", takes_codec=True,
                 listed=["fstc@1", "fstc@2", "fstc@4", "fstc@8", "fstc-dac@2", "fstc-dac@4", "fstc-encodec@3",
                         "fstc-mimi@1.1"])
SYSTEMS.register("codesep", "bench.systems.codesep.adapter:CodeSepSystem", listed=["codesep"])
SYSTEMS.register("codesep-noacbg", "bench.systems.codesep.adapter:CodeSepNoACBGSystem", listed=["codesep-noacbg"])
SYSTEMS.register("codesep-notf", "bench.systems.codesep.adapter:CodeSepNoTFSystem", listed=["codesep-notf"])
SYSTEMS.register("codesep-oracle-aux", "bench.systems.codesep.adapter:CodeSepOracleAuxSystem", listed=["codesep-oracle-aux"])
SYSTEMS.register("codesep-noatsp", "bench.systems.codesep.adapter:CodeSepNoATSPSystem", listed=["codesep-noatsp"])
SYSTEMS.register("tokensplit", "bench.systems.tokensplit.adapter:TokenSplitSystem", listed=["tokensplit"])
SYSTEMS.register("tokensplit-target", "bench.systems.tokensplit.adapter:TokenSplitTargetSystem", listed=["tokensplit-target"])
SYSTEMS.register("tokensplit-nontarget", "bench.systems.tokensplit.adapter:TokenSplitNonTargetSystem", listed=["tokensplit-nontarget"])
SYSTEMS.register("tokensplit-both", "bench.systems.tokensplit.adapter:TokenSplitBothSystem", listed=["tokensplit-both"])
SYSTEMS.register("tokensplit-refine", "bench.systems.tokensplit.adapter:TokenSplitRefineSystem", listed=["tokensplit-refine"])
SYSTEMS.register("tokensplit-refine-target", "bench.systems.tokensplit.adapter:TokenSplitRefineTargetSystem", listed=["tokensplit-refine-target"])

# -- metrics: name -> Metric subclass
METRICS.register("sisnri", "bench.metrics.sisnr:SISNRi")
METRICS.register("sisdr", "bench.metrics.sdr:SISDR")
METRICS.register("sdri", "bench.metrics.sdr:SDRi")
METRICS.register("stoi", "bench.metrics.stoi:STOI")
METRICS.register("estoi", "bench.metrics.stoi:ESTOI")
METRICS.register("dnsmos", "bench.metrics.dnsmos:DNSMOS")
# `by_default=False`: runs only when named in --metrics (the personalised DNSMOS would double the DNSMOS time)
METRICS.register("pdnsmos", "bench.metrics.dnsmos:PersonalizedDNSMOS", by_default=False)
METRICS.register("utmos", "bench.metrics.utmos:UTMOS")
METRICS.register("distillmos", "bench.metrics.distillmos:DistillMOS")
METRICS.register("visqol", "bench.metrics.visqol:ViSQOL")
METRICS.register("dwer", "bench.metrics.dwer:DWER")
METRICS.register("dcer", "bench.metrics.dwer:DCER")
METRICS.register("tdwer", "bench.metrics.dwer:TranscriptDWER")
METRICS.register("wer", "bench.metrics.dwer:WER")
METRICS.register("cer", "bench.metrics.dwer:CER")
METRICS.register("spk_sim", "bench.metrics.spk_sim:SpeakerSimilarity")
METRICS.register("bitrate", "bench.metrics.bitrate:Bitrate")

# -- training recipes: name -> "module:" exposing add_arguments/run
RECIPES.register("codec", "bench.baselines.codecs.mdct_rvq.recipe:")
RECIPES.register("codec-postfilter", "bench.baselines.codecs.mdct_rvq.postfilter:")
RECIPES.register("separator", "bench.baselines.separators.recipe:")
RECIPES.register("codesep", "bench.systems.codesep.recipe:")
RECIPES.register("tokensplit", "bench.systems.tokensplit.recipe:")


def default_metrics() -> list[str]:
    """What a run without ``--metrics`` computes: every registered metric but those registered ``by_default=False``."""
    return [name for name in METRICS.names() if METRICS.entry(name).meta.get("by_default", True)]


def build_system(spec: "SystemSpec", device: str = "cpu", sample_rate: int = 16000) -> "System":
    """Instantiate the system a :class:`~bench.config.SystemSpec` asks for."""
    cls = SYSTEMS.entry(spec.family).load()
    if isinstance(cls, type):  # a plugin may register a plain factory; its options are its own business
        check_options(cls, spec.options, spec.where or f"system {spec.name!r}")
    try:
        return cls(spec.name, kbps=spec.kbps, device=device, sample_rate=sample_rate, **spec.options)
    except TypeError as exc:
        raise BenchError(f"{spec.where or f'system {spec.name!r}'}: bad options {sorted(spec.options)} ({exc})") \
            from None
    except BenchError as exc:
        if spec.where and spec.options:  # a variant's option led here: say which file and table it came from
            raise BenchError(f"{spec.where}: {exc}") from None
        raise


def expand_family(family: str) -> tuple[str, dict[str, Any]]:
    """A family name -> (registered family, options it implies).

    ``sepformer-libri2mix`` -> (itself, its ``preset``); ``fstc-dac`` -> (``fstc``,
    ``{"codec": "dac16k"}``) when ``fstc`` takes a codec and ``dac`` names one; anything
    else stays as it is (an unknown family fails later, listing the known ones).
    """
    if family in SYSTEMS:
        return family, dict(SYSTEMS.entry(family).meta.get("preset") or {})
    head, sep, tail = family.partition("-")
    if sep and head in SYSTEMS and SYSTEMS.entry(head).meta.get("takes_codec"):
        from bench.baselines.codecs import canonical_name, is_codec_name

        if is_codec_name(tail):
            return head, {"codec": canonical_name(tail)}
    return family, {}


def missing_assets(spec: "SystemSpec") -> list[str]:
    """``bench assets`` names that ``spec`` needs and the cache lacks, judged from files alone."""
    try:
        cls = SYSTEMS.entry(spec.family).load()
        check = getattr(cls, "missing_assets", None)
        return list(check(**spec.options)) if callable(check) else []
    except BenchError:
        return []


def run_hint(spec: "SystemSpec") -> str:
    """The command(s) that fill a row of ``spec``: fetch what is missing, then run it."""
    assets = missing_assets(spec)
    fetch = f"bench assets fetch {' '.join(assets)}, then " if assets else ""
    return f"{fetch}bench run --systems {spec.name}"


def build_metric(name: str) -> "Metric":
    """Instantiate a registered metric by name."""
    return METRICS.entry(name).load()()
