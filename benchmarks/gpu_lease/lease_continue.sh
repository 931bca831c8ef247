#!/bin/bash
# Second call of the lease: continue the best fine-tune (sep-ft) on another 1/9 of the training sources.
SEPMIN=${SEPMIN:-2.5}; DEADLINE=${DEADLINE:-205}; DEVICE=${DEVICE:-cuda}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; R=$(pwd)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site ${WHL:-$R/.dev/whl}/*.whl || exit 3
cd /tmp; export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
python3 $R/benchmarks/gpu_lease/rebuild_mixtures.py $R/.dev/data/train train $R/.dev/data/dev dev || exit 5
W=${W:-/tmp/w2}; rm -rf "$W"; mkdir -p "$W"
for v in "b 3e-4" "c 1.5e-4"; do set -- $v
  python3 -m bench.cli train separator --config small --data $R/.dev/data/train --dev $R/.dev/data/dev \
    --out "$W/sep-$1" --work "$W/sep-$1.work" --init ${INIT:-$R/.dev/init/sep-ft} --steps 400000 --minutes "$SEPMIN" \
    --batch-size 16 --segment 3 --lr $2 --eval-every 500 --device "$DEVICE" --threads 4 > "$OUT/sep-$1.log" 2>&1 &
  PIDS="$PIDS $!"
done
( sleep $((DEADLINE - SECONDS)); pkill -TERM -f 'bench.cli train'; sleep 10; pkill -KILL -f 'bench.cli train' ) &
WD=$!
wait $PIDS
pkill -P $WD 2>/dev/null; kill $WD 2>/dev/null; echo "done at ${SECONDS}s"
for v in b c; do cp "$W/sep-$v.work/loss.csv" "$W/sep-$v-loss.csv"; grep -E ",[0-9.]+$" "$W/sep-$v-loss.csv" | tail -4; done
cd "$W" && tar -cf "$OUT/res2.tar" sep-b sep-b-loss.csv sep-c sep-c-loss.csv; ls -la "$OUT"
