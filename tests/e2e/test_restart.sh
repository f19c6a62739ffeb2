#!/usr/bin/env bash
# test_restart.sh: runs outlive the server. kill -9 amlfs-server mid-run, start it again: the run
# finishes, its log holds every line exactly once, and the mount recovers by itself.
. "$(dirname "$0")/../lib/e2e.sh"

t_server_killed_mid_run_the_run_finishes_and_the_log_is_whole() {
    mkdir "$MNT/experiments/survive"
    id=$(submit survive <<Y
command: for i in \$(seq 1 30); do echo "line \$i"; [ \$i = 10 ] && while [ ! -e $T/go ]; do sleep 0.05; done; sleep 0.05; done
environment: host
Y
) || fail "submit"
    wait_for 10 grep -qx "line 10" "$MNT/runs/$id/log" || fail "never reached line 10"
    pid=$(server_pid)
    kill -9 "$pid" || fail "kill"
    wait_for 5 sh -c "! kill -0 $pid" || fail "server still alive"
    touch "$T/go"   # the job goes on printing while no server runs
    sleep_until_lines() { [ "$(wc -l < "$DATA/runs/$id/log")" -ge 20 ]; }
    wait_for 10 sleep_until_lines || fail "the job stopped when the server died"
    "$AMLFS_SERVER" --data-dir "$DATA" || fail "restart"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "status after restart: $(cat "$MNT/runs/$id/status")"
    seq 1 30 | sed 's/^/line /' > "$T/expected"
    diff "$T/expected" "$MNT/runs/$id/log" > "$T/diff" || fail "log differs: $(head "$T/diff")"
}

t_a_run_that_ends_while_the_server_is_down_is_recorded() {
    mkdir "$MNT/experiments/ended"
    id=$(printf 'command: echo a; while [ ! -e %s/go2 ]; do sleep 0.05; done; echo b; exit 4\nenvironment: host\n' "$T" |
        submit ended) || fail "submit"
    wait_status 10 "$MNT/runs/$id/status" Running || fail "not Running"
    pid=$(server_pid)
    kill -9 "$pid"
    wait_for 5 sh -c "! kill -0 $pid" || fail "server still alive"
    touch "$T/go2"
    wait_for 10 test -e "$DATA/runs/$id/exit.json" || fail "the supervisor did not record the end"
    "$AMLFS_SERVER" --data-dir "$DATA" || fail "restart"
    wait_status 30 "$MNT/runs/$id/status" Failed || fail "status after restart: $(cat "$MNT/runs/$id/status")"
    grep -q '"exit_code": *4' "$MNT/runs/$id/info.json" || fail "info.json: $(cat "$MNT/runs/$id/info.json")"
}

# Puts run $1 back as the server had it just before it stored its compute's handle: the state a crash
# between handing a run over and recording it leaves (status $2, no handle, no end).
rewind_run() {
    python3 - "$DATA/workspace.db" "$1" "$2" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE runs SET status = ?, handle = NULL, ended = NULL, exit_code = NULL, error = NULL "
           "WHERE id = ?", (sys.argv[3], sys.argv[2]))
db.commit()
PY
}

restart_server() {
    local pid
    pid=$(server_pid)
    kill -9 "$pid" || return 1
    wait_for 5 sh -c "! kill -0 $pid" || return 1
    "$@"
    "$AMLFS_SERVER" --data-dir "$DATA"
}

# A crash after close() of job.yaml succeeded but before the run's supervisor started: the restarted
# server found launch.json and failed the run ("the run's supervisor exited without recording ...").
# crash_between_ack_and_start FAULT EXPERIMENT LEFT: the server dies at that fault point while starting the
# run a save in EXPERIMENT acknowledged, leaving the file LEFT (a pattern) in the run's folder; the
# restarted server runs it once and leaves no launch temp file.
crash_between_ack_and_start() {
    local fault=$1 exp=$2 left=$3
    restart_server true || fail "restart"
    pid=$(server_pid)
    kill -9 "$pid"; wait_for 5 sh -c "! kill -0 $pid" || fail "server still alive"
    AMLFS_FAULT=$fault "$AMLFS_SERVER" --data-dir "$DATA" || fail "start with the fault"
    pid=$(server_pid)
    # Whatever happens below, the next cases find a server.
    revive() { kill -0 "$(server_pid)" 2>/dev/null || "$AMLFS_SERVER" --data-dir "$DATA"; }
    mkdir "$MNT/experiments/$exp" || { revive; fail "mkdir"; }
    printf 'command: echo ran once\nenvironment: host\n' > "$MNT/experiments/$exp/job.yaml" || { revive; fail "close() failed"; }
    wait_for 10 sh -c "! kill -0 $pid" || { kill -9 "$pid"; revive; fail "the fault point was not reached"; }
    id=$(ls "$DATA/runs" | grep "^${exp}_")
    [ -n "$id" ] && [ ! -e "$DATA/runs/$id/supervisor.pid" ] && ls "$DATA/runs/$id" | grep -qx "$left" ||
        { revive; fail "not the state to test: $(ls -R "$DATA/runs")"; }
    "$AMLFS_SERVER" --data-dir "$DATA" || fail "restart"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status") $(cat "$MNT/runs/$id/info.json")"
    [ "$(cat "$MNT/runs/$id/log")" = "ran once" ] || fail "log: $(cat "$MNT/runs/$id/log")"
    ls "$DATA/runs/$id" | grep -q 'launch.json.tmp' && fail "a launch temp file was left: $(ls "$DATA/runs/$id")"
    return 0
}

t_an_acknowledged_run_whose_supervisor_never_started_runs_after_a_restart() {
    crash_between_ack_and_start local-before-spawn acked 'launch\.json'
}

# The crash comes between writing launch.json's temp file and its rename: only launch.json.tmp.XXXXXX is
# there; the run is started after the restart, and the temp file removed.
t_a_crash_while_writing_the_launch_record_starts_the_run_after_a_restart() {
    crash_between_ack_and_start before-rename:launch.json mid_launch 'launch\.json\.tmp\..*'
}

t_a_run_handed_over_just_before_a_crash_is_taken_back_not_started_twice() {
    mkdir "$MNT/experiments/handed"
    id=$(printf 'command: echo started >> %s/starts; exit 5\nenvironment: host\n' "$T" | submit handed) || fail "submit"
    wait_status 20 "$MNT/runs/$id/status" Failed || fail "first end: $(cat "$MNT/runs/$id/status")"
    restart_server rewind_run "$id" Preparing || fail "restart"
    wait_status 30 "$MNT/runs/$id/status" Failed || fail "after restart: $(cat "$MNT/runs/$id/status")"
    grep -q '"exit_code": *5' "$MNT/runs/$id/info.json" || fail "the recorded end: $(cat "$MNT/runs/$id/info.json")"
    [ "$(wc -l < "$T/starts")" = 1 ] || fail "the job ran $(wc -l < "$T/starts") times"
}

t_a_run_canceled_while_being_handed_over_ends_right_after_a_crash() {
    mkdir "$MNT/experiments/unhanded"
    # Never handed over: no launch record in its folder.
    id=$(printf 'command: echo hi\nenvironment: host\nname: unhanded-1\n' | submit unhanded) || fail "submit"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "first end"
    never_handed() { rewind_run "$id" CancelRequested && rm -f "$DATA/runs/$id/launch.json"; }
    restart_server never_handed || fail "restart"
    wait_status 30 "$MNT/runs/$id/status" Canceled || fail "status: $(cat "$MNT/runs/$id/status")"
}

# At rest, on a machine without podman too: the data folder (made 0755 below, as a user may) is private,
# the database and its WAL are 0600, and a registry password is in no file of it, before and after a
# restart (sealed under secret.key, a 0600 file of its own, which the restarted server reads again).
t_secrets_are_sealed_at_rest_and_the_data_folder_is_private() {
    local secret="S3cret-$RANDOM-$RANDOM-pw" e=$MNT/environments/sealed
    mkdir "$e" || fail "mkdir"
    printf 'description: the host tools\nimage_registry:\n  address: registry.invalid\n  username: someone\n  password: %s\n' \
        "$secret" > "$e/environment.yaml" || fail "write: $(cat "$e/status")"
    wait_status 10 "$e/status" Ready || fail "status: $(cat "$e/status")"
    at_rest() {
        grep -rlaF "$secret" "$DATA" && fail "$1: the password is in the file(s) above"
        [ "$(stat -c %a "$DATA")" = 700 ] || fail "$1: data folder mode $(stat -c %a "$DATA")"
        for f in "$DATA"/workspace.db "$DATA"/workspace.db-wal "$DATA/secret.key"; do
            [ -e "$f" ] || continue
            [ "$(stat -c %a "$f")" = 600 ] || fail "$1: $f has mode $(stat -c %a "$f")"
        done
        [ -s "$DATA/secret.key" ] || fail "$1: no key file"
    }
    at_rest "while running"
    restart_server true || fail "restart"
    wait_for 10 grep -q 'password: "\*\*\*"' "$e/versions/1/environment.yaml" ||
        fail "after a restart, version 1 reads: $(cat "$e/versions/1/environment.yaml")"
    at_rest "after a restart"
}

mkdir -m 755 "$DATA" # as a user may make it: the server makes it private
mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_host_env host || { echo "0 passed, 1 failed"; exit 1; }
run_cases
