#!/usr/bin/env bash
# The whole recipe of docs/training.md, stage after stage (each resumable: rerun this script after an
# interruption and finished stages are skipped, a running one resumes from its checkpoint).
#   tools/train/run-all.sh [WORK=/tmp/ifp-train]
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:-/tmp/ifp-train}
S1=${S1_STEPS:-1100}
S2=${S2_STEPS:-400}
T="python3 tools/train/train.py --data $W/data"
[ -f "$W/data/init.json" ] || node --import tsx tools/train/prepare.ts --out "$W/data"
stage() { # name stage init extra...
  local out=$W/$1 st=$2 init=$3; shift 3
  [ -f "$out/final.pt" ] || $T --stage "$st" --init "$init" --out "$out" --steps "$([ "$st" = 1 ] && echo $S1 || echo $S2)" "$@"
}
stage joint1 1 ifp-demo
stage joint2 2 "$W/joint1/final.pt"
for ff in 192 384; do
  stage dense$ff-1 1 ifp-demo --dense-ff $ff
  stage dense$ff-2 2 "$W/dense$ff-1/final.pt" --dense-ff $ff
done
