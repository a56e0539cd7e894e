#!/usr/bin/env bash
# The recipe of the committed models/ifp-demo-joint (docs/training.md, "Results"; PROVENANCE.md), stage
# after stage, with its dense n_ff 192 / 384 baselines, each resumable: rerun this script after an
# interruption and finished stages are skipped, a running one resumes from its checkpoint.
#   tools/train/run-all.sh [WORK=/tmp/ifp-train] [OUT=WORK/ifp-demo-joint.q8_0.gguf]
# About 2 hours of training for the joint model and as much per baseline on one core each.
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:-/tmp/ifp-train}
OUT=${2:-$W/ifp-demo-joint.q8_0.gguf}
T="python3 tools/train/train.py --stage 1 --data $W/data"
CONT="--distill 0.9 --lr 1e-4 --t-start 0.3 --t-end 0.1"
[ -f "$W/data/init.json" ] || node --import tsx tools/train/prepare.ts --out "$W/data"
run() { # name init steps extra...
  local out=$W/$1 init=$2 steps=$3; shift 3
  [ -f "$out/final.pt" ] || $T --init "$init" --out "$out" --steps "$steps" "$@"
}
# the joint model: distilled stage 1, then two continuations with a trained 24-entry score codebook
run kd-joint1 ifp-demo 1100 --distill 0.9 --lr 2e-4
run cont2-cb24 "$W/kd-joint1/final.pt" 550 --densities 0.25,0.5 --codebook 24 $CONT --seed 2
run cont3-cb24 "$W/cont2-cb24/final.pt" 1100 --densities 0.25,0.5 $CONT --seed 3
# routing by the loss: labels in two processes, then the route
R=$W/routed/cont3-cb24-routed.pt
mkdir -p "$W/routed"
if [ ! -f "$R" ]; then
  for k in 1 2; do python3 tools/train/route.py --ckpt "$W/cont3-cb24/final.pt" --data "$W/data" --out "$R" --shard $k/2 & done
  wait
  python3 tools/train/route.py --ckpt "$W/cont3-cb24/final.pt" --data "$W/data" --out "$R"
fi
# export: codebook F32, route, bundle rows ordered for the predictor
python3 tools/train/export.py --ckpt "$R" --data "$W/data" --out "$W/export-routed"
node --import tsx tools/train/export.ts --dir "$W/export-routed" -o "$OUT" --type q8_0 --prior-steps 1650 --reorder "$W/data/calib.jsonl"
# the baselines: the same batches and schedule, dense FFN of the activated size
for ff in 192 384; do
  run kd-dense$ff-1 ifp-demo 1100 --distill 0.9 --lr 2e-4 --dense-ff $ff
  run cont-dense$ff "$W/kd-dense$ff-1/final.pt" 550 --dense-ff $ff $CONT --seed 2
  run cont3-dense$ff "$W/cont-dense$ff/final.pt" 1100 --dense-ff $ff $CONT --seed 3
  python3 tools/train/export.py --ckpt "$W/cont3-dense$ff/final.pt" --data "$W/data" --out "$W/export-cont3-dense$ff"
  node --import tsx tools/train/export.ts --dir "$W/export-cont3-dense$ff" -o "$W/dense$ff.q8_0.gguf" --type q8_0
done
