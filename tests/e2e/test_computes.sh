#!/usr/bin/env bash
# test_computes.sh: named compute targets through the mount without a cluster: mkdir + compute.yaml
# (create or attach), an az ml amlcompute file backed by this machine, refusals and rmdir.
. "$(dirname "$0")/../lib/e2e.sh"

# What `az ml compute create -f` users have: provisioning keys that mean nothing for a cluster that exists.
amlcompute_yaml() {
    cat <<Y
\$schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json
name: $1
type: amlcompute
size: Standard_DS3_v2
min_instances: 0
max_instances: ${2:-2}
idle_time_before_scale_down: 120
tier: dedicated
Y
}

t_mkdir_makes_a_draft_that_jobs_cannot_use_yet() {
    mkdir "$MNT/computes/draft" || fail "mkdir"
    ls "$MNT/computes" | grep -qx draft || fail "not listed: $(ls "$MNT/computes")"
    grep -q '^Draft' "$MNT/computes/draft/status" || fail "status: $(cat "$MNT/computes/draft/status")"
    mkdir "$MNT/experiments/uses-draft"
    local before
    before=$(run_count)
    printf 'command: echo hi\nenvironment: azureml:host@latest\ncompute: azureml:draft\n' > \
        "$MNT/experiments/uses-draft/job.yaml"
    grep -q "compute 'draft' has no compute.yaml yet" "$MNT/experiments/uses-draft/status" ||
        fail "experiment status: $(cat "$MNT/experiments/uses-draft/status")"
    [ "$(run_count)" = "$before" ] || fail "a run was made"
    rmdir "$MNT/computes/draft" || fail "rmdir of a draft"
    [ ! -e "$MNT/computes/draft" ] || fail "still there"
}

t_amlcompute_file_runs_a_job_on_this_machine() {
    mkdir "$MNT/computes/cpu-cluster"
    amlcompute_yaml cpu-cluster 2 > "$MNT/computes/cpu-cluster/compute.yaml" || fail "write"
    status=$(cat "$MNT/computes/cpu-cluster/status")
    echo "$status" | head -1 | grep -qx Succeeded || fail "state: $status"
    echo "$status" | grep -q "backed by: this machine" || fail "backing: $status"
    echo "$status" | grep -q "max_instances 2" || fail "size: $status"
    echo "$status" | grep -q "ignored here: size, min_instances, idle_time_before_scale_down, tier" ||
        fail "ignored keys not listed: $status"
    mkdir "$MNT/experiments/on-cluster"
    id=$(printf 'command: echo on the cluster\nenvironment: azureml:host@latest\ncompute: azureml:cpu-cluster\n' |
        submit on-cluster) || fail "submit"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status")"
    grep -q '"compute": "cpu-cluster"' "$MNT/runs/$id/info.json" || fail "info: $(cat "$MNT/runs/$id/info.json")"
    grep -qx "on the cluster" "$MNT/runs/$id/log" || fail "log"
}

t_writing_the_same_file_again_attaches_and_a_change_applies() {
    mkdir "$MNT/computes/again"
    amlcompute_yaml again 2 > "$MNT/computes/again/compute.yaml" || fail "first write"
    [ "$(write_spec "$MNT/computes/again/compute.yaml" < <(amlcompute_yaml again 2))" = OK ] || fail "same again"
    [ "$(ls "$MNT/computes" | grep -c '^again$')" = 1 ] || fail "duplicate"
    amlcompute_yaml again 3 > "$MNT/computes/again/compute.yaml" || fail "changed write"
    wait_for 5 grep -q "max_instances 3" "$MNT/computes/again/status" ||
        fail "change not applied: $(cat "$MNT/computes/again/status")"
    grep -q "max_instances: 3" "$MNT/computes/again/compute.yaml" || fail "text not kept"
}

t_other_types_are_refused_with_what_is_offered() {
    mkdir "$MNT/computes/k8s"
    r=$(printf 'name: k8s\ntype: kubernetes\n' | write_spec "$MNT/computes/k8s/compute.yaml")
    [ "$r" = EINVAL ] || fail "close: $r"
    grep -q "compute type 'kubernetes' is not offered by this workspace (offered: local" "$MNT/computes/k8s/status" ||
        fail "status: $(cat "$MNT/computes/k8s/status")"
    grep -q "slurm, amlcompute" "$MNT/computes/k8s/status" || fail "offered types not listed"
    r=$(printf 'name: k8s\ntype: amlcompute\nmax_instance: 4\n' | write_spec "$MNT/computes/k8s/compute.yaml")
    [ "$r" = EINVAL ] || fail "typo close: $r"
    grep -q "did you mean 'max_instances'" "$MNT/computes/k8s/status" || fail "typo: $(cat "$MNT/computes/k8s/status")"
    grep -q '^Draft' "$MNT/computes/k8s/status" || fail "a refused file changed the compute"
}

t_a_request_the_compute_cannot_meet_is_refused_with_the_numbers() {
    mkdir "$MNT/computes/one-node" "$MNT/experiments/too-big"
    amlcompute_yaml one-node 1 > "$MNT/computes/one-node/compute.yaml"
    r=$(write_spec "$MNT/experiments/too-big/job.yaml" <<Y
command: python3 train.py
environment: azureml:host@latest
compute: azureml:one-node
resources:
  instance_count: 3
distribution:
  type: pytorch
  process_count_per_instance: 2
Y
)
    [ "$r" = EINVAL ] || fail "close: $r"
    grep -q "instance_count is 3 but compute 'one-node' has 1 node" "$MNT/experiments/too-big/status" ||
        fail "status: $(cat "$MNT/experiments/too-big/status")"
}

t_rmdir_refuses_while_runs_use_it_and_explains() {
    mkdir "$MNT/computes/busy" "$MNT/experiments/busy"
    amlcompute_yaml busy 1 > "$MNT/computes/busy/compute.yaml"
    id=$(printf 'command: while [ ! -e %s/busy-go ]; do sleep 0.05; done\nenvironment: host\ncompute: busy\n' "$T" |
        submit busy) || fail "submit"
    wait_status 10 "$MNT/runs/$id/status" Running || fail "not running"
    rmdir "$MNT/computes/busy" 2>/dev/null && fail "rmdir of a busy compute worked"
    grep -q "compute 'busy' is used by run $id" "$MNT/computes/status" || fail "status: $(cat "$MNT/computes/status")"
    touch "$T/busy-go"
    wait_status 10 "$MNT/runs/$id/status" Completed || fail "run"
    rmdir "$MNT/computes/busy" || fail "rmdir after the run"
    [ -z "$(cat "$MNT/computes/status")" ] || fail "status not cleared"
    rmdir "$MNT/computes/local" 2>/dev/null && fail "rmdir local worked"
    grep -q "computes/local is this machine" "$MNT/computes/status" || fail "local: $(cat "$MNT/computes/status")"
    mkdir "$MNT/computes/bad name" 2>/dev/null && fail "a bad name was made"
    grep -q "bad name" "$MNT/computes/status" || fail "bad name not explained: $(cat "$MNT/computes/status")"
}

mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_host_env host || { echo "0 passed, 1 failed"; exit 1; }
run_cases
