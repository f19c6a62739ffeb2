#!/usr/bin/env bash
# bench.sh: `make bench`: amlfs measured against references taken in the same run, on a workspace of its
# own (server and mount in a temp dir, torn down at the end); one table printed, the same as JSON in results/.
#
# Rows come in families (scripts/bench/*.sh), each measured by small helpers in tests/bench/. Knobs, for
# trying a change quickly (the table says when a row was scaled down): BENCH_RUNS (10000),
# BENCH_EXECUTED (300), BENCH_BYTES_REPS (3), BENCH_SNAPSHOT_FIRST (3), BENCH_METRIC_POINTS (10000),
# BENCH_METRIC_SERIES (100), BENCH_METRIC_RUNS (1000), BENCH_ONLY (a list of families:
# log submit slurm bytes snapshots rate scale tails metrics).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/bench/lib.sh"
. "$HERE/bench/log.sh"
. "$HERE/bench/submit.sh"
. "$HERE/bench/bytes.sh"
. "$HERE/bench/snapshots.sh"
. "$HERE/bench/scale.sh"
. "$HERE/bench/metrics.sh"

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
ONLY=${BENCH_ONLY:-log submit slurm bytes snapshots rate scale tails metrics}
wants() { [[ " $ONLY " == *" $1 "* ]]; }

[ "$BENCH_RUNS" = 10000 ] || note "scaled down: $BENCH_RUNS runs instead of 10,000 (BENCH_RUNS)"

section "workspace in $T"
mount_ws || { echo "bench: amlfs did not mount (see $T/amlfs.log)" >&2; cat "$T/amlfs.log" >&2; exit 1; }
if ! mkdir "$MNT/environments/host" ||
    ! printf 'name: host\ndescription: the host tools\n' > "$MNT/environments/host/environment.yaml"; then
    echo "bench: cannot make the host environment" >&2
    exit 1
fi
mkdir "$MNT/experiments/scale"
bench_memory_idle

wants log && bench_log
wants submit && bench_submit_latency
wants slurm && bench_slurm
wants bytes && bench_bytes
if wants snapshots || wants rate || wants scale; then
    bench_park || note "the parked compute could not be made: $(tail -1 "$ERR")"
fi
wants snapshots && bench_snapshots
wants rate && bench_rate
if wants scale; then
    bench_scale
else
    "$PY" "$HELP/populate.py" unpark --sock "$SOCK" >/dev/null 2>&1
fi
wants tails && bench_tails
wants metrics && bench_metrics_store
wants metrics && bench_metrics_mount
bench_memory_peak

section "done"
SECONDS_TAKEN=$(awk -v a="$BENCH_T0" -v b="$(now_us)" 'BEGIN {print (b - a) / 1e6}')
"$PY" "$HELP/report.py" --rows "$ROWS" --root "$ROOT" --results "$ROOT/results" --seconds "$SECONDS_TAKEN" \
    --load "$LOAD" --notes "$NOTES"
