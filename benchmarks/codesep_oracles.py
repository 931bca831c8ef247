"""Where does CodeSep lose quality?  STOI of its chain with each module replaced by an oracle.

For each test mixture the BTDM's base tokens, the ATSP's auxiliary tokens and the codec
tokens of the true sources are combined in six ways and decoded by the codec; STOI
against the clean sources (estimates paired with sources by base-token agreement) tells
which module limits the system:

* ``btdm + atsp``: the system as shipped (argmax tokens, the paper's decoding);
* ``btdm, base only``: the ATSP left out (1 stage decoded);
* ``btdm + oracle aux``: the true sources' stages 2..N after the predicted base tokens;
* ``oracle base + atsp``: the ATSP fed the true base tokens;
* ``oracle base only`` / ``oracle, N stages``: the codec alone, the chain's ceiling.

    .venv/bin/python benchmarks/codesep_oracles.py --limit 8
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

EMBEDDED = Path(__file__).resolve().parents[1] / "bench/data/embedded/Libri2Mix/wav16k/min/test"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=EMBEDDED, help="a Libri2Mix split folder (mix_clean, s1, s2)")
    parser.add_argument("--limit", type=int, default=8, help="first N mixtures")
    parser.add_argument("--system", default="codesep", help="codesep, codesep-noacbg or codesep-notf")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import torch

    from bench.audio import read_audio
    from bench.catalog import build_system
    from bench.config import SystemSpec
    from bench.metrics.stoi import stoi
    from bench.systems.codesep.inference import match_to_references

    chain = build_system(SystemSpec(name=args.system, family=args.system), device=args.device).inference
    rows: dict[str, list[float]] = {}
    accuracy = []
    for path in sorted((args.data / "mix_clean").glob("*.*"))[: args.limit]:
        mixture = read_audio(path)[0]
        sources = np.stack([read_audio(args.data / s / path.name)[0] for s in ("s1", "s2")])
        samples = mixture.shape[-1]
        base = chain.base_tokens(mixture)
        reference = chain.reference_tokens(sources)
        order = match_to_references(base, reference[:, 0])                 # as codesep-oracle-aux pairs them
        reference, sources = reference[order], sources[order]
        accuracy.append(float((base == reference[:, 0]).float().mean()))

        def score(tokens: "torch.Tensor") -> float:
            estimates = chain.decode(tokens, samples)
            return float(np.mean([stoi(estimates[k], sources[k], 16000) for k in range(2)]))

        variants = {
            "btdm + atsp": torch.cat([base[:, None], chain.aux_tokens(base)], 1),
            "btdm, base only": base[:, None],
            "btdm + oracle aux": torch.cat([base[:, None], reference[:, 1:]], 1),
            "oracle base + atsp": torch.cat([reference[:, :1], chain.aux_tokens(reference[:, 0])], 1),
            "oracle base only": reference[:, :1],
            f"oracle, {chain.num_stages} stages": reference,
        }
        for name, tokens in variants.items():
            rows.setdefault(name, []).append(score(tokens))
    print(f"{args.system} on {len(accuracy)} mixtures of {args.data}; "
          f"BTDM base-token accuracy {100 * np.mean(accuracy):.1f} %")
    print("| tokens decoded | STOI |\n|---|---:|")
    for name, values in rows.items():
        print(f"| {name} | {np.mean(values):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
