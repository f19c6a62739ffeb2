#!/usr/bin/env bash
# test_basics.sh: the mounted tree, experiments as folders of code, and a run from start to end,
# all through real tools (ls, mkdir, cp, cat, stat) on a fresh workspace.
. "$(dirname "$0")/../lib/e2e.sh"

t_tree_has_the_contract_folders() {
    for f in workspace.json environments computes experiments runs; do
        [ -e "$MNT/$f" ] || fail "missing $f"
    done
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["api_version"]=="v1", d' \
        "$MNT/workspace.json" || fail "workspace.json is not the workspace"
    [ -d "$MNT/computes/local" ] || fail "computes/local missing"
    grep -q "max_instances" "$MNT/computes/local/compute.yaml" || fail "local compute.yaml lacks max_instances"
}

t_experiment_files_round_trip_with_sizes() {
    mkdir "$MNT/experiments/files" || fail "mkdir experiment"
    head -c 100000 /dev/urandom > "$T/blob"
    cp "$T/blob" "$MNT/experiments/files/blob.bin" || fail "cp"
    cmp "$T/blob" "$MNT/experiments/files/blob.bin" || fail "content differs"
    [ "$(stat -c %s "$MNT/experiments/files/blob.bin")" = 100000 ] || fail "stat size wrong"
    ls -l "$MNT/experiments/files/blob.bin" | awk '{exit !($5 == 100000)}' || fail "ls -l size wrong"
    mkdir "$MNT/experiments/files/src" && echo 'print(1)' > "$MNT/experiments/files/src/train.py"
    [ "$(cat "$MNT/experiments/files/src/train.py")" = "print(1)" ] || fail "nested file"
    mv "$MNT/experiments/files/src/train.py" "$MNT/experiments/files/src/main.py" || fail "rename"
    [ -f "$MNT/experiments/files/src/main.py" ] && [ ! -e "$MNT/experiments/files/src/train.py" ] ||
        fail "rename did not move"
    rm "$MNT/experiments/files/src/main.py" && rmdir "$MNT/experiments/files/src" || fail "rm/rmdir"
    ls "$MNT/experiments" | grep -qx files || fail "experiment not listed"
}

t_run_completes_with_log_info_and_links() {
    make_host_env host || fail "environment"
    wait_status 5 "$MNT/environments/host/status" Ready || fail "env status: $(cat "$MNT/environments/host/status")"
    mkdir "$MNT/experiments/hello"
    echo 'print("hello from", __name__)' > "$MNT/experiments/hello/main.py"
    id=$(submit hello <<'Y'
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: /usr/bin/python3 main.py --greeting ${{inputs.greeting}} && echo "$GREETING"
environment: azureml:host@latest
compute: azureml:local
inputs:
  greeting: hi
environment_variables:
  GREETING: hello-env
display_name: first run
Y
) || fail "submit"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status")"
    grep -q "hello from __main__" "$MNT/runs/$id/log" || fail "log: $(cat "$MNT/runs/$id/log")"
    grep -q "hello-env" "$MNT/runs/$id/log" || fail "environment variable not seen"
    [ "$(stat -c %s "$MNT/runs/$id/log")" = "$(cat "$MNT/runs/$id/log" | wc -c)" ] || fail "log size"
    python3 - "$MNT/runs/$id/info.json" <<'P' || fail "info.json: $(cat "$MNT/runs/$id/info.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["exit_code"] == 0 and d["status"] == "Completed" and d["experiment"] == "hello", d
assert d["environment"] == "host" and d["environment_version"] in (1, "1"), d
assert d["display_name"] == "first run", d
P
    grep -q "greeting hi" "$MNT/runs/$id/job.yaml" || grep -q "python3 main.py" "$MNT/runs/$id/job.yaml" ||
        fail "runs/ID/job.yaml: $(cat "$MNT/runs/$id/job.yaml")"
    [ "$(readlink "$MNT/experiments/hello/runs/$id")" = "../../../runs/$id" ] || fail "run symlink"
    [ "$(readlink "$MNT/experiments/hello/runs/latest")" = "../../../runs/$id" ] || fail "latest symlink"
    [ "$(cat "$MNT/experiments/hello/runs/latest/status")" = Completed ] || fail "status via latest"
}

t_failing_job_is_failed_with_exit_code() {
    make_host_env host2 || fail "environment"
    mkdir "$MNT/experiments/failing"
    id=$(printf 'command: echo about to fail; exit 3\nenvironment: azureml:host2:1\n' | submit failing) || fail "submit"
    wait_status 20 "$MNT/runs/$id/status" Failed || fail "status: $(cat "$MNT/runs/$id/status")"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["exit_code"]==3 and "3" in d["error"], d' \
        "$MNT/runs/$id/info.json" || fail "info.json: $(cat "$MNT/runs/$id/info.json")"
}

t_run_works_on_its_own_copy_of_the_code() {
    make_host_env host3 || fail "environment"
    mkdir -p "$MNT/experiments/copy/src"
    echo original > "$MNT/experiments/copy/src/data.txt"
    id=$(printf 'command: cat data.txt; echo changed > data.txt; pwd\ncode: src\nenvironment: host3\n' |
        submit copy) || fail "submit"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status")"
    grep -qx original "$MNT/runs/$id/log" || fail "log: $(cat "$MNT/runs/$id/log")"
    [ "$(cat "$MNT/experiments/copy/src/data.txt")" = original ] || fail "the run changed the experiment's files"
}

t_run_outputs_are_shown_read_only() {
    make_host_env host4 || fail "environment"
    mkdir "$MNT/experiments/outs"
    id=$(submit outs <<'Y'
command: >-
  mkdir -p outputs/sub && echo "accuracy 0.97" > outputs/model.txt &&
  head -c 5000 /dev/urandom > outputs/sub/x.bin && chmod 600 outputs/sub/x.bin &&
  ln -s sub/x.bin outputs/latest.bin
environment: host4
Y
) || fail "submit"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status")"
    real="$DATA/runs/$id/work/outputs"
    out="$MNT/runs/$id/outputs"
    ls "$MNT/runs/$id" | grep -qx outputs || fail "outputs not listed in the run: $(ls "$MNT/runs/$id")"
    [ "$(ls "$out" | tr '\n' ' ')" = "latest.bin model.txt sub " ] || fail "ls outputs: $(ls -a "$out")"
    ls -l "$out/sub/x.bin" | awk '{exit !($1 == "-rw-------" && $5 == 5000)}' ||
        fail "ls -l x.bin: $(ls -l "$out/sub/x.bin")"
    ls -l "$out/model.txt" | awk '{exit !($5 == 14)}' || fail "ls -l model.txt: $(ls -l "$out/model.txt")"
    [ "$(cat "$out/model.txt")" = "accuracy 0.97" ] || fail "cat model.txt: $(cat "$out/model.txt")"
    cmp "$real/sub/x.bin" "$out/sub/x.bin" || fail "x.bin differs from the run's file"
    cmp "$real/model.txt" "$out/model.txt" || fail "model.txt differs from the run's file"
    [ -L "$out/latest.bin" ] && [ "$(readlink "$out/latest.bin")" = sub/x.bin ] ||
        fail "symlink: $(ls -l "$out/latest.bin")"
    cmp "$real/sub/x.bin" "$out/latest.bin" || fail "reading through the symlink"
    got=$(echo x | write_spec "$out/model.txt")
    [ "$got" = EACCES ] || fail "writing outputs/model.txt gave $got"
    got=$(echo x | write_spec "$out/new.txt")
    [ "$got" = EACCES ] || fail "creating outputs/new.txt gave $got"
    mkdir "$out/d" 2>/dev/null && fail "mkdir in outputs was accepted"
    rm -f "$out/model.txt" 2>/dev/null && fail "rm in outputs was accepted"
    [ "$(cat "$real/model.txt")" = "accuracy 0.97" ] || fail "the run's file changed"
}

# FUSE_USE_VERSION 35 made libfuse read our loop config as its 3.2 struct: a new thread (and /dev/fuse
# clone) for every request. Counted by the pids the system hands out: 500 listings (1,500 requests or
# more) in one process took 1,500 pids with a thread each; a pool takes a few.
t_requests_are_served_by_a_pool_of_threads_not_one_thread_each() {
    used=$(python3 - "$MNT/experiments" <<'PY'
import os, sys
def last():
    with open("/proc/sys/kernel/ns_last_pid") as f:
        return int(f.read())
first = last()
for _ in range(500):
    os.listdir(sys.argv[1])
print(last() - first)
PY
)
    [ -n "$used" ] && [ "$used" -ge 0 ] && [ "$used" -lt 750 ] || fail "$used pids were taken for 500 listings"
}

mount_ws || { echo "0 passed, 1 failed"; exit 1; }
run_cases
