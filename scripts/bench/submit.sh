# submit.sh: the bench's submission rows: latency to Running and to Completed through the mount vs the API
# (and vs sbatch on a private Slurm cluster when Slurm is installed), and submissions per second from 1
# and 10 shells (tests/bench/submit_latency.py).

bench_submit_latency() {
    section "submit latency"
    mkdir "$MNT/experiments/lat"
    attempt "submit latency" "submit to Running (vs the API);submit to Completed (vs the API)" \
        "$PY" "$HELP/submit_latency.py" latency --rows "$ROWS" --mnt "$MNT" --sock "$SOCK" --exp lat --n 10
}

slurm_rows() {
    # shellcheck source=../../tests/lib/slurm.sh
    . "$ROOT/tests/lib/slurm.sh"
    mkdir -p "$T/shared" "$MNT/computes/cluster" "$MNT/experiments/slurmlat"
    slurm_start "$T/slurm" || { echo "the private Slurm cluster did not start" >&2; return 1; }
    SLURM_STARTED=1
    printf 'name: cluster\ntype: slurm\nslurmrestd_url: %s\nuser_name: %s\ntoken_file: %s\npartition: %s\nshared_folder: %s\nmax_instances: 4\n' \
        "$SLURM_REST_URL" "$SLURM_USER" "$SLURM_TOKEN_FILE" "$SLURM_PARTITION" "$T/shared" \
        > "$MNT/computes/cluster/compute.yaml" || return 1
    head -1 "$MNT/computes/cluster/status" | grep -qx Succeeded ||
        { echo "compute cluster: $(head -1 "$MNT/computes/cluster/status")" >&2; return 1; }
    "$PY" "$HELP/submit_latency.py" slurm --rows "$ROWS" --mnt "$MNT" --sock "$SOCK" --exp slurmlat \
        --compute cluster --partition "$SLURM_PARTITION" --n 3
    local rc=$?
    slurm_stop
    SLURM_STARTED=0
    return $rc
}

bench_slurm() {
    section "submit latency on Slurm"
    local whats="Slurm: submit to Running (vs sbatch);Slurm: submit to Completed (vs sbatch)"
    # shellcheck source=../../tests/lib/slurm.sh
    . "$ROOT/tests/lib/slurm.sh"
    if ! slurm_available 2>"$ERR"; then
        local IFS=';'
        # shellcheck disable=SC2086
        skip_rows "submit latency" "$(tail -1 "$ERR")" $whats
        return 0
    fi
    attempt "submit latency" "$whats" slurm_rows
    if [ "$SLURM_STARTED" = 1 ]; then
        slurm_stop
        SLURM_STARTED=0
    fi
}

bench_rate() {
    section "submissions per second (queued on the parked compute)"
    local k shells
    for k in 0 1 2 3 4 5 6 7 8 9; do mkdir "$MNT/experiments/sub$k"; done
    for shells in 1 10; do
        attempt submissions "submissions/s from $shells shell$([ "$shells" = 1 ] || echo s) (vs the API)" \
            "$PY" "$HELP/submit_latency.py" rate --rows "$ROWS" --mnt "$MNT" --sock "$SOCK" --exp sub \
            --shells "$shells" --count 300 --reps 3 --compute parked
    done
}
