#!/usr/bin/env bash
# test_live.sh: files that change while watched: tail -f on a growing log, status walking its states,
# cancel through ctl, limits.timeout, and queueing beyond the local compute's max_instances.
. "$(dirname "$0")/../lib/e2e.sh"

t_tail_f_shows_lines_while_the_job_runs() {
    mkdir "$MNT/experiments/tail"
    # The job prints a line, then waits for the test to see it before going on: a line that only
    # shows up after the job ends would make this test fail at its deadline.
    id=$(submit tail <<Y
command: for i in 1 2 3; do echo "line \$i"; while [ ! -e $T/seen-\$i ]; do sleep 0.05; done; done; echo done
environment: azureml:host@latest
Y
) || fail "submit"
    tail -f "$MNT/runs/$id/log" > "$T/tail.out" 2>&1 &
    local tail_pid=$!
    for i in 1 2 3; do
        if ! wait_for 5 grep -qx "line $i" "$T/tail.out"; then
            kill $tail_pid; touch "$T/seen-1" "$T/seen-2" "$T/seen-3"
            fail "tail -f did not show 'line $i' within 5 s while the job ran (status $(cat "$MNT/runs/$id/status"))"
        fi
        [ "$(cat "$MNT/runs/$id/status")" = Running ] || { kill $tail_pid; fail "not Running while printing"; }
        touch "$T/seen-$i"
    done
    wait_status 20 "$MNT/runs/$id/status" Completed || { kill $tail_pid; fail "status"; }
    wait_for 5 grep -qx done "$T/tail.out" || { kill $tail_pid; fail "last line not followed"; }
    kill $tail_pid
    [ "$(grep -c '^line ' "$T/tail.out")" = 3 ] || fail "tail printed lines twice: $(cat "$T/tail.out")"
}

t_status_walks_the_states_and_ls_sizes_follow() {
    mkdir "$MNT/experiments/walk"
    id=$(printf 'command: echo start; while [ ! -e %s/go ]; do sleep 0.05; done; echo end\nenvironment: host\n' "$T" |
        submit walk) || fail "submit"
    wait_status 10 "$MNT/runs/$id/status" Running || fail "never Running: $(cat "$MNT/runs/$id/status")"
    wait_for 5 grep -q start "$MNT/runs/$id/log" || fail "log"
    [ "$(stat -c %s "$MNT/runs/$id/log")" = 6 ] || fail "size while running: $(stat -c %s "$MNT/runs/$id/log")"
    touch "$T/go"
    wait_status 10 "$MNT/runs/$id/status" Completed || fail "never Completed"
    wait_for 5 sh -c "[ \$(stat -c %s '$MNT/runs/$id/log') = 10 ]" || fail "final size"
    ls -l "$MNT/runs/$id/" | awk '$NF=="status"{exit !($5==10)}' || fail "ls -l size of status"
}

t_cancel_stops_the_whole_process_group() {
    mkdir "$MNT/experiments/cancel"
    id=$(printf 'command: sleep 300 & echo $! > %s/child.pid; echo started; wait\nenvironment: host\n' "$T" |
        submit cancel) || fail "submit"
    wait_for 10 grep -q started "$MNT/runs/$id/log" || fail "never started"
    echo cancel > "$MNT/runs/$id/ctl" || fail "write ctl"
    [ -z "$(cat "$MNT/runs/$id/ctl")" ] || fail "ctl after a cancel that worked: $(cat "$MNT/runs/$id/ctl")"
    wait_status 15 "$MNT/runs/$id/status" Canceled || fail "status: $(cat "$MNT/runs/$id/status")"
    child=$(cat "$T/child.pid")
    wait_for 5 sh -c "! kill -0 $child" || { kill "$child"; fail "the job's background child survived"; }
    echo cancel > "$MNT/runs/$id/ctl" 2>/dev/null && fail "cancel of an ended run should fail"
    grep -q "^Rejected: cancel: .*Canceled" "$MNT/runs/$id/ctl" || fail "ctl says: $(cat "$MNT/runs/$id/ctl")"
    return 0
}

t_timeout_fails_with_the_reason() {
    mkdir "$MNT/experiments/slow"
    id=$(printf 'command: sleep 300\nenvironment: host\nlimits:\n  timeout: 1\n' | submit slow) || fail "submit"
    wait_status 20 "$MNT/runs/$id/status" Failed || fail "status: $(cat "$MNT/runs/$id/status")"
    grep -qi "timed out" "$MNT/runs/$id/info.json" || fail "info.json: $(cat "$MNT/runs/$id/info.json")"
}

t_runs_beyond_max_instances_wait_queued_in_order() {
    printf 'name: local\ntype: local\nmax_instances: 1\n' > "$MNT/computes/local/compute.yaml"
    grep -q "max_instances: 1" "$MNT/computes/local/compute.yaml" || fail "compute.yaml not updated"
    mkdir "$MNT/experiments/queue"
    spec="command: echo run; while [ ! -e $T/release ]; do sleep 0.05; done\nenvironment: host\n"
    a=$(printf "$spec" | submit queue) && b=$(printf "$spec" | submit queue) && c=$(printf "$spec" | submit queue) ||
        fail "submit"
    wait_status 10 "$MNT/runs/$a/status" Running || fail "first not Running"
    [ "$(cat "$MNT/runs/$b/status")" = Queued ] && [ "$(cat "$MNT/runs/$c/status")" = Queued ] ||
        fail "others not Queued: $(cat "$MNT/runs/$b/status") $(cat "$MNT/runs/$c/status")"
    grep -q "queued 2" "$MNT/computes/local/status" || fail "compute status: $(cat "$MNT/computes/local/status")"
    echo cancel > "$MNT/runs/$a/ctl"
    wait_status 10 "$MNT/runs/$b/status" Running || fail "second did not start after the first ended"
    [ "$(cat "$MNT/runs/$c/status")" = Queued ] || fail "third started out of turn"
    touch "$T/release"
    wait_status 20 "$MNT/runs/$c/status" Completed || fail "third never completed"
    printf 'name: local\ntype: local\nmax_instances: 2\n' > "$MNT/computes/local/compute.yaml"
}

mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_host_env host || { echo "0 passed, 1 failed"; exit 1; }
run_cases
