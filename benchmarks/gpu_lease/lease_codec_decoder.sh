#!/bin/bash
# One call of the lent GPU for the codec: two decoder-only fine-tunes of the shipped small.pt side by
# side. The encoder and codebooks stay frozen, so every token is unchanged and CodeSep / TokenSplit
# run with the result as they are (the export records tokens_of); only the decoder learns.
#   gan: HiFi-GAN's full-width critics (--adversarial), batch 16 x 1 s: 15-27 s a step on a CPU thread,
#        the run the CPU could not afford (a width-8 try lost, see the codec checkpoints README)
#   big: the recipe's losses without critics at batch 48 (the CPU runs used 12)
# Needs .dev from `prepare.sh OFFSET baselines/codecs/mdct_rvq/checkpoints/small.pt` (EVERY=12, so the
# 19 MB codec fits beside the slice). Returns each export split into 15 MiB parts (a returned file may
# hold 16 MiB) plus logs.tar; join with `cat codec-gan.pt.part-* > codec-gan.pt`.
CODECMIN=${CODECMIN:-7}; DEADLINE=${DEADLINE:-500}; DEVICE=${DEVICE:-cuda}; STEPS=${STEPS:-60000}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; R=$(pwd)
INIT=${INIT:-$R/.dev/init/small.pt}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site ${WHL:-$R/.dev/whl}/*.whl || exit 3
cd /tmp; export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
W=${W:-/tmp/wc}; rm -rf "$W"; mkdir -p "$W"
COMMON="--config small --snr-weight 1 --waveform-full-stages 16 --stage-conditioning --decoder-only --init $INIT
  --data $R/.dev/data/train/Libri2Mix --steps $STEPS --minutes $CODECMIN --device $DEVICE --threads 4 --seed 0 --quiet"
python3 -m bench.cli train codec $COMMON --adversarial --batch-size 16 --out "$W/gan" --export "$W/codec-gan.pt" \
  > "$W/gan.log" 2>&1 &
PIDS="$!"
python3 -m bench.cli train codec $COMMON --batch-size 48 --out "$W/big" --export "$W/codec-big.pt" > "$W/big.log" 2>&1 &
PIDS="$PIDS $!"
( sleep $((DEADLINE - SECONDS)); pkill -TERM -f 'bench.cli train'; sleep 20; pkill -KILL -f 'bench.cli train' ) &
WD=$!
wait $PIDS
pkill -P $WD 2>/dev/null; kill $WD 2>/dev/null; echo "done at ${SECONDS}s"
for v in gan big; do
  tail -2 "$W/$v.log"; grep -E "^[0-9]+,.*,[0-9.]+$" "$W/$v/log.csv" | tail -2
  [ -f "$W/codec-$v.pt" ] && split -b 15m -d "$W/codec-$v.pt" "$OUT/codec-$v.pt.part-"
  cp "$W/$v/log.csv" "$W/$v-log.csv"
done
cd "$W" && tar -cf "$OUT/logs.tar" gan.log big.log gan-log.csv big-log.csv codec-*.json 2>/dev/null; ls -la "$OUT"
