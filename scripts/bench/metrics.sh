# metrics.sh: the metrics store at issue 9's scale (build/tests/bench_metrics, the store alone, no server
# or mount): each of its lines becomes a row, in milliseconds, with no reference.

bench_metrics_store() {
    section "metrics store (bench_metrics)"
    local out=$T/bench_metrics.txt line what ms
    if ! "$BUILD/tests/bench_metrics" > "$out" 2>>"$ERR"; then
        skip_rows "metrics store" "bench_metrics failed: $(tail -1 "$ERR")" "the store at scale"
        return 0
    fi
    while IFS= read -r line; do
        [[ $line =~ ^(.*[^ ])\ +([0-9]+)\ ms$ ]] || continue
        what=${BASH_REMATCH[1]}
        ms=${BASH_REMATCH[2]}
        row value --section "metrics store" --what "$what" --unit ms --amlfs "$ms"
    done < "$out"
}

# The same scale read through the mount (tests/bench/metrics_mount.py), the data made by real jobs: a run of
# BENCH_METRIC_SERIES (100) series of BENCH_METRIC_POINTS (10,000) points, an experiment of BENCH_METRIC_RUNS
# (1,000) runs of 5 series x 100 points and 3 parameters. Each read is the first one after the file's pages
# were dropped; the note has the median of three more.
BENCH_METRIC_POINTS=${BENCH_METRIC_POINTS:-10000}
BENCH_METRIC_SERIES=${BENCH_METRIC_SERIES:-100}
BENCH_METRIC_RUNS=${BENCH_METRIC_RUNS:-1000}

bench_metrics_mount() {
    section "metrics through the mount"
    local out=$T/metrics_mount.txt sec="metrics, mount" what ms bytes again
    [ "$BENCH_METRIC_POINTS/$BENCH_METRIC_SERIES/$BENCH_METRIC_RUNS" = 10000/100/1000 ] ||
        note "scaled down: metrics of $BENCH_METRIC_SERIES series x $BENCH_METRIC_POINTS points and $BENCH_METRIC_RUNS runs instead of 100 x 10,000 and 1,000 (BENCH_METRIC_*)"
    local p=$BENCH_METRIC_POINTS s=$BENCH_METRIC_SERIES r=$BENCH_METRIC_RUNS
    if ! "$PY" "$HELP/metrics_mount.py" --sock "$SOCK" --mnt "$MNT" --dir "$T" --points "$p" --series "$s" \
        --runs "$r" > "$out" 2>>"$ERR"; then
        skip_rows "$sec" "metrics_mount.py failed: $(tail -1 "$ERR")" "cat metrics/NAME ($p points)" \
            "metrics.json ($s x $p points)" "draw metrics/NAME.svg ($p points)" "metrics.tsv ($r runs)" \
            "draw the overlay of $r runs"
        return 0
    fi
    while IFS=$'\t' read -r what ms bytes again; do
        case "$what" in
        made) say "jobs made the data in $((ms / 1000)) s" ;;
        "late points")
            row value --section "$sec" --what "all $((s * p)) points read after the run is Completed" --unit ms \
                --amlfs "$ms" --note "the run's status says Completed before the server has read every line" ;;
        metrics/NAME)
            row value --section "$sec" --what "cat metrics/NAME ($p points)" --unit ms --amlfs "$ms" \
                --note "$bytes bytes; again: $again ms" ;;
        metrics.json)
            row value --section "$sec" --what "metrics.json ($s x $p points)" --unit ms --amlfs "$ms" \
                --note "$((bytes / 1048576)) MiB; again: $again ms" ;;
        metrics/NAME.svg)
            row value --section "$sec" --what "draw metrics/NAME.svg ($p points)" --unit ms --amlfs "$ms" \
                --goal max=250 --note "again: $again ms"
            row value --section "$sec" --what "size of metrics/NAME.svg ($p points)" --unit KiB \
                --amlfs "$(awk -v b="$bytes" 'BEGIN {printf "%.1f", b / 1024}')" --goal max=100 ;;
        metrics.tsv)
            row value --section "$sec" --what "metrics.tsv ($r runs)" --unit ms --amlfs "$ms" \
                --note "$bytes bytes; again: $again ms" ;;
        overlay.svg)
            row value --section "$sec" --what "draw the overlay of $r runs" --unit ms --amlfs "$ms" \
                --note "$((bytes / 1024)) KiB; again: $again ms" ;;
        "ls metrics/")
            row value --section "$sec" --what "ls metrics/ ($s series)" --unit ms --amlfs "$ms" ;;
        esac
    done < "$out"
}
