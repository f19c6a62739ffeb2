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
