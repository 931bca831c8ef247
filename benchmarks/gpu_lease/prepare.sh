#!/bin/bash
# Build .dev/ for a call to the lent GPU machine: a 12-bit slice of the training sources, half the dev
# set, this package and its missing dependencies as CPython-3.12 wheels, and the weights to start from.
#
#   bash benchmarks/gpu_lease/prepare.sh OFFSET INIT_DIR [TRAIN_ROOT DEV_ROOT]
#
# OFFSET picks the ninth of the training mixtures (0..8; use a new one per call), INIT_DIR a Sepformer
# model directory (e.g. baselines/separators/pretrained/sepformer-small) or the codec file
# baselines/codecs/mdct_rvq/checkpoints/small.pt (then set EVERY=12: a twelfth, so the 19 MB codec fits).  Then, because the tracked
# checkpoints and embedded set do not fit beside the data in the 64 MiB that travels:
#   bash benchmarks/gpu_lease/small_tree.sh enter    # a throw-away branch without them
#   (the device call, carrying .dev)
#   bash benchmarks/gpu_lease/small_tree.sh leave    # back to where you were
set -euo pipefail
OFFSET=${1:?OFFSET (0..8)}; INIT=${2:?INIT_DIR}; TRAIN=${3:-/work/data/train}; DEV=${4:-/work/data/dev}
R=$(git rev-parse --show-toplevel); cd "$R"
PY=${PY:-$R/.venv/bin/python}
grep -qx '/.dev/' .git/info/exclude || echo '/.dev/' >> .git/info/exclude
rm -rf .dev && mkdir -p .dev/whl .dev/init
"$PY" benchmarks/gpu_lease/pack_sources.py --data "$TRAIN" --split train --out .dev/data/train --every "${EVERY:-9}" --offset "$OFFSET"
"$PY" benchmarks/gpu_lease/pack_sources.py --data "$DEV" --split dev --out .dev/data/dev --every 2
cp -r "$INIT" ".dev/init/$(basename "$INIT")"
# a codec file's JSON twin carries its step count and history (the fine-tune continues the schedule)
if [ -f "$INIT" ] && [ -f "${INIT%.pt}.json" ]; then cp "${INIT%.pt}.json" .dev/init/; fi
# the package without its weights and embedded set (they stay behind; the scripts never load them)
SRC=$(mktemp -d)
git ls-files -co --exclude-standard | grep -v -E 'checkpoints/.*\.pt$|pretrained/|bench/data/embedded/' | tar -cf - -T - | tar -xf - -C "$SRC"
"$PY" -m pip wheel -q --no-deps "$SRC" -w .dev/whl
rm -rf "$SRC"
# what the machine's image lacks (its package list: /work/.library/device/KINDS.md)
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .dev/whl \
  soundfile==0.14.0 cffi==2.1.1 pycparser==3.12 speechbrain==1.1.2 HyperPyYAML==1.2.3 ruamel.yaml==0.18.17 ruamel.yaml.clib==0.2.15
du -sh .dev
