#!/usr/bin/env bash
# run.sh (make run): mount your workspace on ./mnt-example in the foreground; Ctrl-C unmounts.
# The workspace server starts with the mount if none runs, and keeps running (and running jobs) after.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
MNT=${MNT:-$ROOT/mnt-example}
mkdir -p "$MNT"
if mountpoint -q "$MNT"; then
    echo "$MNT is already mounted; unmount it first:  fusermount3 -u $MNT" >&2
    exit 1
fi
cat <<MSG
amlfs: mounting your workspace on $MNT (Ctrl-C unmounts). In another shell, try:

  cd $MNT && ls
  mkdir environments/sklearn-host && cp $ROOT/examples/digits/environment.yaml environments/sklearn-host/
  mkdir experiments/digits && cp $ROOT/examples/digits/{train.py,job.yaml} experiments/digits/
  cat experiments/digits/status
  tail -f experiments/digits/runs/latest/log

MSG
exec "$BUILD/amlfs" -f "$MNT"
