#!/bin/bash
# One GPU lease: fine-tune the shipped Sepformer twice (A, A2) and run the chain from scratch (B), side by side.
# TokenSplit is left out of B: its recipe transcribes the training blocks (Whisper or pocketsphinx), neither of
# which fits the 64 MiB that may travel with the data.
SEPMIN=${SEPMIN:-6.8}; CHAINMIN=${CHAINMIN:-5.0}; DEADLINE=${DEADLINE:-530}; DEVICE=${DEVICE:-cuda}; EXTRA=${EXTRA:-}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
R=$(pwd)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site ${WHL:-$R/.dev/whl}/*.whl || exit 3
cd /tmp  # the repo's own bench/ would shadow the installed one (bench.baselines is mapped at install)
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi -L 2>/dev/null; python3 -c "import torch, bench.cli, speechbrain, soundfile; print('torch', torch.__version__, torch.cuda.is_available())" || exit 4
python3 $R/benchmarks/gpu_lease/rebuild_mixtures.py $R/.dev/data/train train $R/.dev/data/dev dev || exit 5
W=${W:-/tmp/w}; rm -rf "$W"; mkdir -p "$W"
python3 -m bench.cli train separator --config small --data $R/.dev/data/train --dev $R/.dev/data/dev \
  --out "$W/sep-ft" --work "$W/sep-ft.work" --init $R/.dev/init/sepformer-small --steps 400000 --minutes "$SEPMIN" \
  --batch-size 16 --segment 3 --lr 5e-4 --eval-every 500 --device "$DEVICE" --threads 4 $EXTRA > "$OUT/sep-ft.log" 2>&1 &
A=$!
python3 -m bench.cli train separator --config small --data $R/.dev/data/train --dev $R/.dev/data/dev \
  --out "$W/sep-ft2" --work "$W/sep-ft2.work" --init $R/.dev/init/sepformer-small --steps 400000 --minutes "$SEPMIN" \
  --batch-size 32 --segment 4 --lr 2e-4 --eval-every 500 --device "$DEVICE" --threads 4 $EXTRA > "$OUT/sep-ft2.log" 2>&1 &
A2=$!
python3 $R/benchmarks/train_all.py --data $R/.dev/data/train --dev $R/.dev/data/dev --out "$W/chain" --device "$DEVICE" \
  --budget-minutes "$CHAINMIN" --threads 4 $CHAIN_EXTRA \
  --only codec,codec-postfilter,separator,codesep-btdm,codesep-atsp,codesep-btdm-noacbg,codesep-atsp-notf > "$OUT/chain.log" 2>&1 &
B=$!
# watchdog: every recipe saves and exits on SIGTERM, so whatever still runs at the deadline stops cleanly
( sleep $((DEADLINE - SECONDS)); pkill -TERM -f 'bench.cli train'; sleep 15; pkill -KILL -f 'bench.cli train' ) &
WD=$!
wait $A; echo "A exit $?"; wait $A2; echo "A2 exit $?"; wait $B; echo "B exit $?"
pkill -P $WD 2>/dev/null; kill $WD 2>/dev/null; echo "done at ${SECONDS}s"
cp "$W/sep-ft.work/loss.csv" "$W/sep-ft-loss.csv" 2>/dev/null; cp "$W/sep-ft2.work/loss.csv" "$W/sep-ft2-loss.csv" 2>/dev/null
cd "$W" && tar -cf - sep-ft sep-ft-loss.csv sep-ft2 sep-ft2-loss.csv chain/commands.json chain/codec.pt chain/*.json chain/sepformer chain/*.work/loss.csv chain/btdm.pt chain/atsp.pt chain/btdm-noacbg.pt chain/atsp-notf.pt 2>/dev/null | split -b 15M - "$OUT/res.tar.part-"
ls -la "$OUT"; du -sh "$W"/chain/* 2>/dev/null | tail -30; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv 2>/dev/null
