#!/usr/bin/env bash
# test_slurm.sh: the Slurm compute target against a real one-node Slurm and slurmrestd (tests/lib/slurm.sh)
# through the mount: create or attach, runs that complete, fail, are canceled, time out, run out of
# memory, queue beyond max_instances, and cluster faults (slurmrestd down, a bad token, the server killed).
. "$(dirname "$0")/../lib/e2e.sh"
. "$(dirname "$0")/../lib/slurm.sh"

test_cleanup() { slurm_stop; }

SHARED=$T/shared

slurm_yaml() { # NAME [extra lines...]
    local name=$1
    shift
    printf 'name: %s\ntype: slurm\nslurmrestd_url: %s\nuser_name: %s\ntoken_file: %s\npartition: %s\n' \
        "$name" "$SLURM_REST_URL" "$SLURM_USER" "$SLURM_TOKEN_FILE" "$SLURM_PARTITION"
    printf 'shared_folder: %s\n' "$SHARED"
    printf '%s\n' "$@"
}

make_cluster() { # NAME [extra lines...]
    mkdir -p "$MNT/computes/$1" && slurm_yaml "$@" > "$MNT/computes/$1/compute.yaml"
}

info_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))' "$1" "$2"; }

t_create_and_recreate_is_create_or_attach() {
    make_cluster cluster "max_instances: 4" || fail "write"
    status=$(cat "$MNT/computes/cluster/status")
    echo "$status" | head -1 | grep -qx Succeeded || fail "state: $status"
    echo "$status" | grep -q "backed by: Slurm partition $SLURM_PARTITION at $SLURM_REST_URL" || fail "backing: $status"
    echo "$status" | grep -q "nodes: idle 1 (1 in all)" || fail "nodes: $status"
    [ "$(slurm_yaml cluster "max_instances: 4" | write_spec "$MNT/computes/cluster/compute.yaml")" = OK ] ||
        fail "writing the same file again"
    [ "$(ls "$MNT/computes" | grep -c '^cluster$')" = 1 ] || fail "duplicate compute"
    slurm_yaml cluster "max_instances: 1" > "$MNT/computes/cluster/compute.yaml"
    grep -q "max_instances 1" "$MNT/computes/cluster/status" || fail "change: $(cat "$MNT/computes/cluster/status")"
}

t_a_missing_partition_or_a_bad_token_leaves_it_failed_with_the_reason() {
    mkdir "$MNT/computes/nopart" "$MNT/computes/badtoken"
    slurm_yaml nopart | sed 's/^partition: .*/partition: nosuch/' > "$MNT/computes/nopart/compute.yaml"
    grep -q "^Failed: partition 'nosuch' does not exist" "$MNT/computes/nopart/status" ||
        fail "partition: $(cat "$MNT/computes/nopart/status")"
    echo "not-a-token" > "$T/bad.token"
    slurm_yaml badtoken | sed "s|^token_file: .*|token_file: $T/bad.token|" > "$MNT/computes/badtoken/compute.yaml"
    grep -q "^Failed: .*token" "$MNT/computes/badtoken/status" || fail "token: $(cat "$MNT/computes/badtoken/status")"
    mkdir "$MNT/experiments/to-failed"
    r=$(printf 'command: echo hi\nenvironment: host\ncompute: azureml:badtoken\n' |
        write_spec "$MNT/experiments/to-failed/job.yaml")
    [ "$r" = EHOSTUNREACH ] || fail "submitting to a Failed compute: $r"
    grep -q "compute 'badtoken' is Failed" "$MNT/experiments/to-failed/status" ||
        fail "experiment status: $(cat "$MNT/experiments/to-failed/status")"
    mkdir "$MNT/computes/toobig"
    slurm_yaml toobig "cpus: 4096" > "$MNT/computes/toobig/compute.yaml"
    grep -q "^Failed: cpus 4096 is more than a node of partition $SLURM_PARTITION has" "$MNT/computes/toobig/status" ||
        fail "cpus: $(cat "$MNT/computes/toobig/status")"
    # Fixed and saved again: it attaches.
    slurm_yaml badtoken > "$MNT/computes/badtoken/compute.yaml"
    head -1 "$MNT/computes/badtoken/status" | grep -qx Succeeded || fail "fixed: $(cat "$MNT/computes/badtoken/status")"
}

t_a_run_completes_and_its_log_is_followed_live() {
    make_cluster live
    mkdir "$MNT/experiments/slive"
    id=$(submit slive <<Y
command: echo "on \$(hostname)"; while [ ! -e $T/slive-go ]; do sleep 0.05; done; echo done
environment: azureml:host@latest
compute: azureml:live
Y
) || fail "submit"
    tail -f "$MNT/runs/$id/log" > "$T/slive.out" 2>&1 &
    local tail_pid=$!
    wait_for 30 grep -q "^on " "$T/slive.out" || { kill $tail_pid; touch "$T/slive-go"; fail "no live line: $(cat "$MNT/runs/$id/status")"; }
    # Slurm's RUNNING reaches the run at the next poll (each second).
    wait_status 5 "$MNT/runs/$id/status" Running || { kill $tail_pid; touch "$T/slive-go"; fail "not Running"; }
    wait_for 5 grep -q "runs: running 1" "$MNT/computes/live/status" || { kill $tail_pid; touch "$T/slive-go"; fail "busy status: $(cat "$MNT/computes/live/status")"; }
    wait_for 5 grep -Eq "nodes: (mixed|allocated) 1" "$MNT/computes/live/status" || { kill $tail_pid; touch "$T/slive-go"; fail "node state: $(cat "$MNT/computes/live/status")"; }
    touch "$T/slive-go"
    wait_status 30 "$MNT/runs/$id/status" Completed || { kill $tail_pid; fail "status: $(cat "$MNT/runs/$id/status")"; }
    wait_for 5 grep -qx done "$T/slive.out" || { kill $tail_pid; fail "last line not followed"; }
    kill $tail_pid
    [ "$(info_field "$MNT/runs/$id/info.json" exit_code)" = 0 ] || fail "exit code"
    handle=$(info_field "$MNT/runs/$id/info.json" compute_handle)
    [ -n "$handle" ] && [ "$handle" != None ] || fail "no Slurm job id in info.json"
    squeue -h -t all -j "$handle" -o %T | grep -qx COMPLETED || fail "Slurm's own word: $(squeue -h -t all -j "$handle")"
}

t_exit_3_fails_with_exit_code_3() {
    make_cluster fails
    mkdir "$MNT/experiments/sfail"
    id=$(printf 'command: echo about to fail; exit 3\nenvironment: host\ncompute: fails\n' | submit sfail) || fail "submit"
    wait_status 30 "$MNT/runs/$id/status" Failed || fail "status: $(cat "$MNT/runs/$id/status")"
    [ "$(info_field "$MNT/runs/$id/info.json" exit_code)" = 3 ] || fail "exit code: $(cat "$MNT/runs/$id/info.json")"
    grep -q "exited with code 3" "$MNT/runs/$id/info.json" || fail "error"
}

t_cancel_is_a_delete_and_ends_canceled() {
    make_cluster cancels
    mkdir "$MNT/experiments/scancel"
    id=$(printf 'command: echo started; sleep 300\nenvironment: host\ncompute: cancels\n' | submit scancel) || fail "submit"
    wait_for 30 grep -q started "$MNT/runs/$id/log" || fail "never started: $(cat "$MNT/runs/$id/status")"
    echo cancel > "$MNT/runs/$id/ctl" || fail "ctl"
    wait_status 30 "$MNT/runs/$id/status" Canceled || fail "status: $(cat "$MNT/runs/$id/status")"
    handle=$(info_field "$MNT/runs/$id/info.json" compute_handle)
    wait_for 15 sh -c "squeue -h -t all -j $handle -o %T | grep -q CANCELLED" ||
        fail "Slurm: $(squeue -h -t all -j "$handle" -o %T)"
}

t_a_queued_run_is_canceled_in_slurms_queue_too() {
    # Whatever happens, the first run must end, or it holds every CPU of the cluster for the next cases.
    trap 'touch "$T/sqc-go"' EXIT
    make_cluster queuecancel "max_instances: 4" "cpus: $(nproc)"
    mkdir "$MNT/experiments/sqc"
    a=$(printf 'command: echo a; while [ ! -e %s/sqc-go ]; do sleep 0.05; done\nenvironment: host\ncompute: queuecancel\n' "$T" |
        submit sqc) || fail "submit a"
    wait_status 30 "$MNT/runs/$a/status" Running || fail "a: $(cat "$MNT/runs/$a/status")"
    # All CPUs are taken: b waits in Slurm's own queue.
    b=$(printf 'command: echo b\nenvironment: host\ncompute: queuecancel\n' | submit sqc) || fail "submit b"
    wait_for 20 sh -c "[ -n \"\$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"compute_handle\"] or \"\")' '$MNT/runs/$b/info.json')\" ]" ||
        fail "b never reached Slurm"
    [ "$(cat "$MNT/runs/$b/status")" = Queued ] || fail "b: $(cat "$MNT/runs/$b/status")"
    echo cancel > "$MNT/runs/$b/ctl"
    wait_status 30 "$MNT/runs/$b/status" Canceled || fail "b: $(cat "$MNT/runs/$b/status")"
    touch "$T/sqc-go"
    wait_status 30 "$MNT/runs/$a/status" Completed || fail "a: $(cat "$MNT/runs/$a/status")"
    ! grep -q . "$MNT/runs/$b/log" || fail "b ran: $(cat "$MNT/runs/$b/log")"
}

t_limits_timeout_fails_the_run() {
    make_cluster timeouts
    mkdir "$MNT/experiments/stime"
    id=$(printf 'command: sleep 300\nenvironment: host\ncompute: timeouts\nlimits:\n  timeout: 2\n' | submit stime) ||
        fail "submit"
    wait_status 40 "$MNT/runs/$id/status" Failed || fail "status: $(cat "$MNT/runs/$id/status")"
    grep -q "timed out after 2 s" "$MNT/runs/$id/info.json" || fail "reason: $(cat "$MNT/runs/$id/info.json")"
}

t_going_over_memory_fails_with_out_of_memory() {
    make_cluster small "memory: 100M"
    mkdir "$MNT/experiments/smem"
    id=$(printf '%s\n' 'command: /usr/bin/python3 -c "x = bytearray(600 * 1024 * 1024); import time; time.sleep(30)"' \
        'environment: host' 'compute: small' | submit smem) || fail "submit"
    wait_status 60 "$MNT/runs/$id/status" Failed || fail "status: $(cat "$MNT/runs/$id/status")"
    grep -q "out of memory" "$MNT/runs/$id/info.json" || fail "reason: $(cat "$MNT/runs/$id/info.json")"
    grep -q "out of memory" "$MNT/runs/$id/log" || fail "the log does not say why it was cut: $(cat "$MNT/runs/$id/log")"
}

t_runs_beyond_max_instances_wait_in_order() {
    make_cluster one "max_instances: 1"
    mkdir "$MNT/experiments/sorder"
    spec="command: echo run; while [ ! -e $T/sorder-go ]; do sleep 0.05; done\nenvironment: host\ncompute: one\n"
    a=$(printf "$spec" | submit sorder) && b=$(printf "$spec" | submit sorder) || fail "submit"
    wait_status 30 "$MNT/runs/$a/status" Running || fail "a: $(cat "$MNT/runs/$a/status")"
    [ "$(cat "$MNT/runs/$b/status")" = Queued ] || fail "b: $(cat "$MNT/runs/$b/status")"
    [ "$(info_field "$MNT/runs/$b/info.json" compute_handle)" = None ] || fail "b was handed to Slurm beyond max_instances"
    grep -q "queued 1" "$MNT/computes/one/status" || fail "status: $(cat "$MNT/computes/one/status")"
    touch "$T/sorder-go"
    wait_status 30 "$MNT/runs/$a/status" Completed || fail "a never completed"
    wait_status 30 "$MNT/runs/$b/status" Completed || fail "b never completed: $(cat "$MNT/runs/$b/status")"
}

t_slurmrestd_down_mid_run_and_back() {
    make_cluster restd
    mkdir "$MNT/experiments/srestd"
    id=$(printf 'command: echo up; while [ ! -e %s/srestd-go ]; do sleep 0.05; done; echo finished\nenvironment: host\ncompute: restd\n' "$T" |
        submit srestd) || fail "submit"
    wait_status 30 "$MNT/runs/$id/status" Running || fail "not running"
    slurmrestd_stop
    wait_for 10 grep -q "does not answer" "$MNT/computes/restd/status" ||
        { slurmrestd_start; fail "compute status: $(cat "$MNT/computes/restd/status")"; }
    touch "$T/srestd-go"
    # The job ends while nobody can ask Slurm: the run stays Running until it can.
    wait_for 10 grep -q finished "$MNT/runs/$id/log" || { slurmrestd_start; fail "log"; }
    [ "$(cat "$MNT/runs/$id/status")" = Running ] || { slurmrestd_start; fail "status: $(cat "$MNT/runs/$id/status")"; }
    slurmrestd_start || fail "slurmrestd did not come back"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "after restart: $(cat "$MNT/runs/$id/status")"
    wait_for 10 sh -c "! grep -q 'cannot be followed' '$MNT/computes/restd/status'" || fail "note stayed"
}

t_a_token_that_expires_mid_run_is_named_and_a_renewed_one_is_taken() {
    cp "$SLURM_TOKEN_FILE" "$T/renew.token"
    mkdir "$MNT/computes/renew"
    slurm_yaml renew | sed "s|^token_file: .*|token_file: $T/renew.token|" > "$MNT/computes/renew/compute.yaml"
    mkdir "$MNT/experiments/srenew"
    id=$(printf 'command: echo up; while [ ! -e %s/srenew-go ]; do sleep 0.05; done\nenvironment: host\ncompute: renew\n' "$T" |
        submit srenew) || fail "submit"
    wait_status 30 "$MNT/runs/$id/status" Running || fail "not running"
    echo "expired.token.value" > "$T/renew.token"
    wait_for 10 grep -q "runs cannot be followed now: .*renew.token" "$MNT/computes/renew/status" ||
        { touch "$T/srenew-go"; fail "status: $(cat "$MNT/computes/renew/status")"; }
    touch "$T/srenew-go"
    wait_for 10 test -e "$SHARED/runs/$id/exit.json" || fail "the job did not end"
    now=$(cat "$MNT/runs/$id/status")
    [ "$now" = Running ] || fail "the run moved while its cluster could not be asked: $now"
    cp "$SLURM_TOKEN_FILE" "$T/renew.token"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "after renewal: $(cat "$MNT/runs/$id/status")"
}

t_a_drained_node_shows_in_the_status_and_runs_wait_for_it() {
    make_cluster drain
    scontrol update nodename="$SLURM_NODE" state=drain reason=amlfs-test || fail "drain"
    wait_for 10 grep -q "nodes: drained 1" "$MNT/computes/drain/status" ||
        { scontrol update nodename="$SLURM_NODE" state=resume; fail "status: $(cat "$MNT/computes/drain/status")"; }
    mkdir "$MNT/experiments/sdrain"
    id=$(printf 'command: echo ran\nenvironment: host\ncompute: drain\n' | submit sdrain) ||
        { scontrol update nodename="$SLURM_NODE" state=resume; fail "submit"; }
    wait_for 10 sh -c "grep -q '\"compute_handle\": \"' '$MNT/runs/$id/info.json'" ||
        { scontrol update nodename="$SLURM_NODE" state=resume; fail "never handed to Slurm: $(cat "$MNT/runs/$id/status") $(cat "$MNT/runs/$id/info.json")"; }
    [ "$(cat "$MNT/runs/$id/status")" = Queued ] ||
        { scontrol update nodename="$SLURM_NODE" state=resume; fail "status: $(cat "$MNT/runs/$id/status")"; }
    scontrol update nodename="$SLURM_NODE" state=resume || fail "resume"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "after resume: $(cat "$MNT/runs/$id/status")"
}

t_the_server_killed_while_slurm_runs_the_job() {
    make_cluster crash
    mkdir "$MNT/experiments/scrash"
    id=$(printf 'command: echo one; while [ ! -e %s/scrash-go ]; do sleep 0.05; done; echo two\nenvironment: host\ncompute: crash\n' "$T" |
        submit scrash) || fail "submit"
    wait_status 30 "$MNT/runs/$id/status" Running || fail "not running"
    local pid
    pid=$(server_pid)
    kill -9 "$pid" || fail "kill"
    wait_for 5 sh -c "! kill -0 $pid" || fail "server still alive"
    touch "$T/scrash-go"
    "$AMLFS_SERVER" --data-dir "$DATA" || fail "restart"
    wait_status 40 "$MNT/runs/$id/status" Completed || fail "after the crash: $(cat "$MNT/runs/$id/status" 2>&1)"
    [ "$(grep -c . "$MNT/runs/$id/log")" = 2 ] || fail "log: $(cat "$MNT/runs/$id/log")"
}

t_a_job_submitted_just_before_a_crash_is_found_not_submitted_again() {
    make_cluster adopt
    mkdir "$MNT/experiments/sadopt"
    id=$(printf 'command: echo once\nenvironment: host\ncompute: adopt\n' | submit sadopt) || fail "submit"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "first end: $(cat "$MNT/runs/$id/status")"
    local pid
    pid=$(server_pid)
    kill -9 "$pid" && wait_for 5 sh -c "! kill -0 $pid" || fail "kill"
    # As a crash between slurmrestd's answer and the store leaves it: Preparing, no job id kept.
    python3 -c 'import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute("UPDATE runs SET status = '"'"'Preparing'"'"', handle = NULL, ended = NULL WHERE id = ?", (sys.argv[2],)); db.commit()' \
        "$DATA/workspace.db" "$id" || fail "rewind"
    "$AMLFS_SERVER" --data-dir "$DATA" || fail "restart"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "after restart: $(cat "$MNT/runs/$id/status")"
    [ "$(squeue -h -t all -n "$id" -o %A | wc -l)" = 1 ] || fail "Slurm jobs named $id: $(squeue -h -t all -n "$id")"
}

t_amlcompute_runs_on_the_default_cluster() {
    make_cluster default-cluster
    # The workspace's default cluster is a server setting, kept for later starts.
    stop_server
    "$AMLFS_SERVER" --data-dir "$DATA" --default-cluster default-cluster || fail "restart with --default-cluster"
    mkdir "$MNT/computes/cpu-cluster"
    printf 'name: cpu-cluster\ntype: amlcompute\nsize: STANDARD_D2_V2\nmin_instances: 0\nmax_instances: 2\n' \
        > "$MNT/computes/cpu-cluster/compute.yaml" || fail "write"
    grep -q "backed by: Slurm partition $SLURM_PARTITION" "$MNT/computes/cpu-cluster/status" ||
        fail "backing: $(cat "$MNT/computes/cpu-cluster/status")"
    grep -q "ignored here: size, min_instances" "$MNT/computes/cpu-cluster/status" || fail "ignored keys"
    mkdir "$MNT/experiments/aml"
    id=$(printf 'command: echo via slurm\nenvironment: azureml:host@latest\ncompute: azureml:cpu-cluster\n' | submit aml) ||
        fail "submit"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status")"
    [ -e "$SHARED/runs/$id/log" ] || fail "the run did not go through the cluster's shared folder"
    rmdir "$MNT/computes/default-cluster" 2>/dev/null && fail "the default cluster was removed"
    grep -q "default cluster" "$MNT/computes/status" || fail "why: $(cat "$MNT/computes/status")"
}

t_torch_ddp_two_ranks_on_slurm() {
    make_cluster ddp "cpus: 2"
    mkdir "$MNT/environments/torch-host" "$MNT/experiments/sddp"
    cp "$ROOT/examples/ddp/environment.yaml" "$MNT/environments/torch-host/"
    cp "$ROOT/examples/ddp/train_ddp.py" "$MNT/experiments/sddp/"
    id=$(sed 's/^compute: .*/compute: azureml:ddp/' "$ROOT/examples/ddp/job.yaml" | submit sddp) || fail "submit"
    wait_status 120 "$MNT/runs/$id/status" Completed ||
        fail "status: $(cat "$MNT/runs/$id/status"): $(cat "$MNT/runs/$id/log")"
    grep -q '^\[rank 1\] rank 1: all-reduce of rank+1 = 3.0 (expected 3.0)' "$MNT/runs/$id/log" ||
        fail "all-reduce: $(cat "$MNT/runs/$id/log")"
    grep -q "averaged gradient equals the full batch's: True" "$MNT/runs/$id/logs/std_log_process_1.txt" ||
        fail "per-rank log: $(ls "$MNT/runs/$id/logs")"
    [ "$(info_field "$MNT/runs/$id/info.json" compute_handle)" != None ] || fail "not run by Slurm"
}

t_a_run_on_slurm_logs_metrics_both_ways_live() {
    make_cluster metrics
    mkdir "$MNT/experiments/smetrics"
    cp "$ROOT/tests/lib/mlflow_like.py" "$MNT/experiments/smetrics/"
    id=$(submit smetrics <<Y
command: >-
  echo "\$AMLFS_METRICS" && echo '{"name": "file", "value": 1}' >> "\$AMLFS_METRICS" &&
  while [ ! -e $T/smetrics-go ]; do sleep 0.05; done &&
  python3 mlflow_like.py start metric:api:0.5:2 param:where:slurm end
environment: azureml:host@latest
compute: azureml:metrics
Y
) || fail "submit"
    wait_for 30 test -s "$MNT/runs/$id/metrics/file" || { touch "$T/smetrics-go"; fail "no live point: $(cat "$MNT/runs/$id/status")"; }
    touch "$T/smetrics-go"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status"); log: $(cat "$MNT/runs/$id/log")"
    grep -qx "$SHARED/runs/$id/metrics/metrics.jsonl" "$MNT/runs/$id/log" || fail "AMLFS_METRICS on the node: $(head -1 "$MNT/runs/$id/log")"
    [ "$(cut -d' ' -f1-2 "$MNT/runs/$id/metrics/api")" = "2 0.5" ] || fail "MLflow from the node: $(cat "$MNT/runs/$id/log")"
    grep -q '"where": "slurm"' "$MNT/runs/$id/params.json" || fail "params: $(cat "$MNT/runs/$id/params.json")"
}

if ! slurm_available 2>"$T/why"; then
    echo "skipped: $(cat "$T/why")"
    echo "0 passed, 0 failed, $(declare -F | grep -c ' t_') skipped"
    exit 0
fi
chmod 755 "$T" # munged and slurmrestd (as nobody) must reach their files below it
slurm_start "$T/slurm" || { echo "slurm did not start"; echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$SHARED"
mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_host_env host || { echo "0 passed, 1 failed"; exit 1; }
run_cases
