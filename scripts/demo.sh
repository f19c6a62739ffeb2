#!/usr/bin/env bash
# demo.sh: the core story with no typing: mount a workspace, register the host's python3 as an
# environment, create an experiment, copy in a real training script, submit it, follow the log live.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/lib/demo.sh"
demo_setup amlfs-demo

"$ROOT/scripts/deps.sh"
run "$BUILD/amlfs --data-dir $DATA $MNT"
cd "$MNT"
run ls
run mkdir environments/sklearn-host
run cp "$ROOT/examples/digits/environment.yaml" environments/sklearn-host/
run cat environments/sklearn-host/status
run mkdir experiments/digits
run cp "$ROOT/examples/digits/train.py" experiments/digits/
run cp "$ROOT/examples/digits/job.yaml" experiments/digits/      # writing job.yaml submits the run
run cat experiments/digits/status
run_dir=experiments/digits/runs/latest
say "tail -f $run_dir/log      # live, while it trains"
follow_until "$run_dir/log" "$run_dir/status" Completed Failed Canceled
run cat "$run_dir/status"
run cat "$run_dir/info.json"
run ls -l "$run_dir/outputs"                                     # what train.py saved
run cat "$run_dir/outputs/scores.json"
run ls "$run_dir/metrics"                                        # one file per metric train.py logged
run cat "$run_dir/metrics/test_acc"                              # EPOCH ACCURACY TIMESTAMP
[ "$(cat "$run_dir/status")" = Completed ]
cd /
