#!/usr/bin/env bash
# demo.sh: the core story with no typing: mount a workspace, register the host's python3 as an
# environment, create an experiment, copy in a real training script, submit it, follow the log live.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
DEMO=$(mktemp -d /tmp/amlfs-demo.XXXXXX)
DATA=$DEMO/data          # a workspace of its own, so the demo never touches yours
MNT=$DEMO/mnt
mkdir -p "$MNT"
tail_pid=

cleanup() {
    [ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null || true
    fusermount3 -u "$MNT" 2>/dev/null || true
    if [ -f "$DATA/server.pid" ]; then kill "$(cat "$DATA/server.pid")" 2>/dev/null || true; fi
    rm -rf "$DEMO"
}
trap cleanup EXIT

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; eval "$@"; }

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
tail -f "$run_dir/log" &
tail_pid=$!
while :; do
    case "$(cat "$run_dir/status")" in Completed|Failed|Canceled) break ;; esac
    sleep 0.5
done
sleep 1.5   # tail -f polls once a second: let it print the last lines
kill "$tail_pid"; tail_pid=
run cat "$run_dir/status"
run cat "$run_dir/info.json"
[ "$(cat "$run_dir/status")" = Completed ]
cd /
