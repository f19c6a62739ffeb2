# log.sh: the bench's log latency rows: a job writes timestamped lines at 10 and 1,000 lines/s; a 1 ms
# poller and tail -f follow its log on the mount and the server's own file at once (tests/bench/log_latency.py).

# log_rate RATE SECONDS: one run at that rate, followed four ways.
log_rate() {
    local rate=$1 secs=$2 rid
    rid=$(host_job "$PY $HELP/log_latency.py emit $rate $secs 2" | submit loglat) || return 1
    wait_for 20 test -e "$DATA/runs/$rid/log" || { echo "run $rid has no log file" >&2; return 1; }
    wait_for 20 test -e "$MNT/runs/$rid/log" || { echo "runs/$rid/log is not in the mount" >&2; return 1; }
    "$PY" "$HELP/log_latency.py" run --rows "$ROWS" --tmp "$T" --rate "$rate" --seconds "$secs" \
        --mount-log "$MNT/runs/$rid/log" --server-log "$DATA/runs/$rid/log" || return 1
    wait_status 30 "$MNT/runs/$rid/status" Completed ||
        { echo "run $rid: $(cat "$MNT/runs/$rid/status")" >&2; return 1; }
}

bench_log() {
    section "log latency"
    mkdir "$MNT/experiments/loglat"
    local spec rate secs
    for spec in "10 8" "1000 4"; do
        read -r rate secs <<<"$spec"
        attempt "log latency" "1 ms poller, $rate lines/s: mount vs server's file;tail -f, $rate lines/s: mount vs server's file" \
            log_rate "$rate" "$secs"
    done
}
