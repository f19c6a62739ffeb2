#!/usr/bin/env bash
# test_snapshot_prepare.sh: a run's working copy of its code is made when the run is prepared, not when it is
# submitted: a Queued run has none (also across a server restart), and a content missing then fails the run.
. "$(dirname "$0")/../lib/e2e.sh"

api() { curl -sS --unix-socket "$DATA/server.sock" "$@"; }

# The parked compute: one place, held by a long job, so what is submitted to it waits Queued.
HOLDER=
park() {
    mkdir -p "$MNT/experiments/holder"
    HOLDER=$(printf 'command: sleep 600\nenvironment: prephost\ncompute: azureml:parked\n' | submit holder) ||
        return 1
    wait_status 20 "$MNT/runs/$HOLDER/status" Running
}
unpark() { echo cancel > "$MNT/runs/$HOLDER/ctl"; }

restart_server() {
    local pid
    pid=$(server_pid)
    kill -9 "$pid" || return 1
    wait_for 5 sh -c "! kill -0 $pid" || return 1
    "$AMLFS_SERVER" --data-dir "$DATA"
}

# queued_job EXPERIMENT CODE-DIR COMMAND: a job with an absolute code folder and an output, on the parked compute.
queued_job() {
    mkdir -p "$MNT/experiments/$1"
    printf 'command: %s\ncode: %s\nenvironment: prephost\ncompute: azureml:parked\noutputs:\n  model:\n    type: uri_folder\n' \
        "$3" "$2" | submit "$1"
}

t_a_queued_run_has_no_copy_of_its_code_until_it_is_prepared_even_across_a_restart() {
    local proj=$T/queued id
    mkdir -p "$proj/src"
    echo 'from the snapshot' > "$proj/src/data.txt"
    head -c 300000 /dev/urandom > "$proj/weights.bin"
    printf '#!/bin/sh\ncat src/data.txt\n[ -d "$1" ] && echo "output folder there"\nls -A | tr "\\n" " "; echo\n' > "$proj/run.sh"
    chmod 755 "$proj/run.sh"
    park || fail "the parked compute: $(cat "$MNT/experiments/holder/status")"
    id=$(queued_job queued "$proj" './run.sh ${{outputs.model}}') || fail "submit"
    grep -q '^Queued' "$MNT/runs/$id/status" || fail "not Queued: $(cat "$MNT/runs/$id/status")"
    [ ! -e "$DATA/runs/$id/work" ] || fail "a Queued run has a working folder: $(ls -R "$DATA/runs/$id/work" | head)"
    [ "$(ls -A "$MNT/runs/$id/snapshot" | sort | tr '\n' ' ')" = "run.sh src weights.bin " ] ||
        fail "its snapshot is there all the same: $(ls -A "$MNT/runs/$id/snapshot")"

    # Accepted, not yet prepared, when the server stops: the restarted one prepares it.
    restart_server || fail "restart"
    wait_for 10 test -S "$DATA/server.sock" || fail "no server"
    grep -q '^Queued' "$MNT/runs/$id/status" || fail "after the restart: $(cat "$MNT/runs/$id/status")"
    [ ! -e "$DATA/runs/$id/work" ] || fail "the restarted server copied a Queued run's code"
    unpark
    wait_status 30 "$MNT/runs/$id/status" Completed ||
        fail "status: $(cat "$MNT/runs/$id/status") $(cat "$MNT/runs/$id/info.json") $(cat "$MNT/runs/$id/log")"
    grep -qx 'from the snapshot' "$MNT/runs/$id/log" || fail "log: $(cat "$MNT/runs/$id/log")"
    grep -qx 'output folder there' "$MNT/runs/$id/log" || fail "the output's folder was not made: $(cat "$MNT/runs/$id/log")"
    # The job saw exactly its snapshot, and outputs/.
    grep -qx 'outputs run.sh src weights.bin ' "$MNT/runs/$id/log" || fail "the job's folder: $(cat "$MNT/runs/$id/log")"
    diff -r --exclude=outputs "$proj" "$DATA/runs/$id/work" || fail "the working copy is not the snapshot"
    [ "$(ls -A "$DATA/runs/$id" | grep -c preparing)" = 0 ] || fail "a temp folder was left: $(ls -A "$DATA/runs/$id")"
}

t_a_content_missing_at_preparation_fails_the_run_naming_the_file() {
    local proj=$T/lost id sha
    mkdir -p "$proj"
    echo 'print("never seen")' > "$proj/needed.py"
    echo "unique $RANDOM $$" >> "$proj/needed.py"
    echo 'kept' > "$proj/other.txt"
    park || fail "the parked compute"
    id=$(queued_job lost "$proj" 'python3 needed.py') || fail "submit"
    sha=$(api "http://localhost/v1/runs/$id/snapshot/needed.py?stat=1" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["sha256"])') || fail "the content's hash"
    rm -f "$DATA/snapshots/blobs/${sha:0:2}/$sha" || fail "removing the content"
    unpark
    wait_status 30 "$MNT/runs/$id/status" Failed || fail "status: $(cat "$MNT/runs/$id/status")"
    grep -q "preparing the code of run $id: the content of 'needed.py' (${sha:0:12}...) is not in the store" \
        "$MNT/runs/$id/info.json" || fail "reason: $(cat "$MNT/runs/$id/info.json")"
    [ ! -e "$DATA/runs/$id/work" ] && [ ! -e "$DATA/runs/$id/work.preparing" ] ||
        fail "a partial copy was left: $(ls -A "$DATA/runs/$id")"
}

mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_host_env prephost && wait_status 10 "$MNT/environments/prephost/status" Ready &&
    mkdir "$MNT/computes/parked" &&
    printf 'name: parked\ntype: amlcompute\nmax_instances: 1\n' > "$MNT/computes/parked/compute.yaml" ||
    { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
run_cases
