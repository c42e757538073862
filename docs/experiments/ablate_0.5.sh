#!/bin/bash
# Issue 33, point 4: paired ablations of the 0.5.0 student at one budget (2,000 steps from 0.4.3, the same
# seed, data order and schedule in every arm), each arm exported and scored on the dev sets with ONNX fp32,
# two passes. Arms: full (the 0.5.0 recipe's losses), no landmark teacher (teacher68 and teacher_pose off),
# no identity teacher (relational off), no attribute losses (CelebA's and the synthetic ones off); and two
# arms for the pose (run with ABLATE_OUT=runs/ablate-0.5-turned, whose `full` has the turned teacher pose):
# the teacher's pose compared as rotations (losses.pose_rotation), and that only where its yaw is under 60 deg.
# The shared stages (release, teachers, prepare) are reused from runs/edgeface-0.5.0; the eyelid refit and
# the dev-fitted alignment are skipped (neither is what an arm changes); the identity metric is refitted.
# Usage: EDGEFACE_DATA=../shared/data taskset -c 1 bash docs/experiments/ablate_0.5.sh [arm ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${EDGEFACE_DATA:?set EDGEFACE_DATA}"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
OUT=${ABLATE_OUT:-runs/ablate-0.5}; STEPS_EPOCHS=${ABLATE_EPOCHS:-5}
BUDGET="\"train\": {\"minutes\": null, \"epochs\": $STEPS_EPOCHS, \"steps_per_epoch\": 400}"
declare -A SET=(
  [full]="{$BUDGET}"
  [no-landmark-teacher]="{$BUDGET, \"loss\": {\"teacher68\": 0.0, \"teacher_pose\": 0.0}}"
  [no-identity-teacher]="{$BUDGET, \"loss\": {\"relational\": 0.0}}"
  [no-attributes]="{$BUDGET, \"loss\": {\"attributes\": 0.0, \"attributes_synthetic\": 0.0}}"
  [pose-rotation]="{$BUDGET, \"loss\": {\"teacher_pose\": 0.0, \"teacher_pose_rotation\": 0.5}}"
  [pose-rotation-frontal]="{$BUDGET, \"loss\": {\"teacher_pose\": 0.0, \"teacher_pose_rotation\": 0.5, \"teacher_pose_max_yaw\": 60}}"
  [pose-weight]="{$BUDGET, \"loss\": {\"teacher_pose\": 2.0}}"
)
ARMS=("$@"); [ ${#ARMS[@]} -gt 0 ] || ARMS=(full no-landmark-teacher no-identity-teacher no-attributes)
for arm in "${ARMS[@]}"; do
  dir=$OUT/$arm; mkdir -p "$dir"
  for s in release teachers teachers-identity prepare; do
    [ -e "$dir/$s" ] || cp -r runs/edgeface-0.5.0/$s "$dir/$s"
  done
  # the export stage takes the student itself: no eyelid refit, no dev-fitted alignment
  mkdir -p "$dir/eyelids" "$dir/align"
  echo "{\"product\": \"$dir/student/last.pt\", \"seconds\": 0}" > "$dir/eyelids/done.json"
  echo "{\"product\": \"$dir/export/pack\", \"seconds\": 0}" > "$dir/align/done.json"
  echo "== $arm: $(date -u +%H:%M:%S)"
  edgeface train --recipe recipes/edgeface-0.5.0.json --out "$dir" --set "${SET[$arm]}" --stop-after identity-metric
  E="edgeface evaluate --backend onnx --precision fp32 --model $dir/export/pack"
  REF=$OUT/full/export/pack
  mkdir -p "$dir/eval"
  if [ "$arm" = full ]; then C=(); else C=(--compare "$REF"); fi
  $E "${C[@]}" --json "$dir/eval/aflw_boxes.json" > "$dir/eval/aflw_boxes.txt" 2>&1
  $E "${C[@]}" --dataset celeba --json "$dir/eval/celeba.json" > "$dir/eval/celeba.txt" 2>&1
  $E --dataset utkface --json "$dir/eval/utkface.json" > "$dir/eval/utkface.txt" 2>&1
  echo "== $arm done: $(date -u +%H:%M:%S)"
done
