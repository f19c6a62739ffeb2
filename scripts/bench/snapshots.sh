# snapshots.sh: the bench's snapshot rows: an absolute code folder of 2,000 files / 300 MB submitted through
# the mount vs tar | curl of the same bytes, and a run's working copy (tests/bench/snapshot_bench.py).
# Its submissions wait on the parked compute (scale.sh), so no run copies 300 MB meanwhile.

bench_snapshots() {
    section "snapshots (2,000 files / 300 MB)"
    local label="2,000 files / 300 MB"
    mkdir "$MNT/experiments/snap"
    attempt snapshots "first, $label (vs tar | curl);unchanged, $label (vs tar | curl);one file changed, $label (vs tar | curl);working copy of a run that changes nothing, $label" \
        "$PY" "$HELP/snapshot_bench.py" --rows "$ROWS" --mnt "$MNT" --sock "$SOCK" --data "$DATA" --tmp "$T/snap" \
        --first "${BENCH_SNAPSHOT_FIRST:-3}" --again 5
    rm -rf "$T/snap"
}
