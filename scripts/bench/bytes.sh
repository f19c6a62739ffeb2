# bytes.sh: the bench's byte rows: a job writes a 1 GiB output; cat, dd and cp read it through the mount
# vs curl of the API and the server's own file (tests/bench/bytes_bench.py).

bytes_rows() {
    local rid
    mkdir "$MNT/experiments/bytes" || return 1
    rid=$(host_job "dd if=/dev/zero of=outputs/big.bin bs=1M count=1024 status=none" | submit bytes) || return 1
    wait_status 180 "$MNT/runs/$rid/status" Completed ||
        { echo "the 1 GiB job ended $(cat "$MNT/runs/$rid/status")" >&2; return 1; }
    "$PY" "$HELP/bytes_bench.py" --rows "$ROWS" --mount-file "$MNT/runs/$rid/outputs/big.bin" \
        --server-file "$DATA/runs/$rid/work/outputs/big.bin" --url "http://localhost/v1/runs/$rid/outputs/big.bin" \
        --sock "$SOCK" --tmp "$T" --server-pid "$(server_pid)" --reps "${BENCH_BYTES_REPS:-3}"
}

bench_bytes() {
    section "bytes (1 GiB output)"
    attempt bytes "1 GiB output, cold: cat (vs curl of the API);1 GiB output, cold: dd bs=1M (vs curl of the API);1 GiB output, cold: cp to local disk (vs curl -o);1 GiB output, cold: cat (vs cat of the server's file);1 GiB output, read again: cat (vs the server's file again)" \
        bytes_rows
    if ! grep -q '"what": "amlfs-server while curl reads the 1 GiB output whole"' "$ROWS"; then
        skip_rows memory "the 1 GiB output could not be made or read" "amlfs-server while curl reads the 1 GiB output whole"
    fi
}
