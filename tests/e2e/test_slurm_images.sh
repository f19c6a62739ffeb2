#!/usr/bin/env bash
# test_slurm_images.sh: a run on the Slurm compute in a container image: the environment applies there as
# on the local compute (the node's supervisor runs podman with the server's settings), and the inputs
# and outputs are at the same paths inside the container as outside.
. "$(dirname "$0")/../lib/e2e.sh"
. "$(dirname "$0")/../lib/slurm.sh"

. "$(dirname "$0")/../lib/podman.sh"
SHARED=$T/shared

test_cleanup() {
    slurm_stop
    podman_cleanup
}

t_a_job_in_an_image_runs_on_slurm_with_its_data_at_the_same_paths() {
    mkdir "$MNT/computes/cluster" "$MNT/environments/bb" "$MNT/experiments/img"
    printf 'name: cluster\ntype: slurm\nslurmrestd_url: %s\nuser_name: %s\ntoken_file: %s\npartition: %s\nshared_folder: %s\n' \
        "$SLURM_REST_URL" "$SLURM_USER" "$SLURM_TOKEN_FILE" "$SLURM_PARTITION" "$SHARED" > "$MNT/computes/cluster/compute.yaml"
    head -1 "$MNT/computes/cluster/status" | grep -qx Succeeded || fail "compute: $(cat "$MNT/computes/cluster/status")"
    printf 'image: %s\n' "$BASE" > "$MNT/environments/bb/environment.yaml"
    wait_status 30 "$MNT/environments/bb/status" Ready || fail "environment: $(cat "$MNT/environments/bb/status")"
    mkdir "$MNT/experiments/img/data"
    printf 'one\ntwo\n' > "$MNT/experiments/img/data/rows.txt"
    id=$(submit img <<'Y'
command: 'echo "in $(cat /etc/hostname 2>/dev/null || echo container)"; wc -l < ${{inputs.rows}}/rows.txt; echo done > ${{outputs.result}}/done.txt'
environment: azureml:bb@latest
compute: azureml:cluster
inputs:
  rows:
    type: uri_folder
    path: ./data
outputs:
  result:
    type: uri_folder
Y
) || fail "submit: $(cat "$MNT/experiments/img/status")"
    wait_status 60 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status"): $(cat "$MNT/runs/$id/log")"
    grep -qx 2 "$MNT/runs/$id/log" || fail "the input inside the container: $(cat "$MNT/runs/$id/log")"
    grep -qx done "$MNT/runs/$id/outputs/result/done.txt" || fail "the output: $(ls -R "$MNT/runs/$id/outputs")"
    [ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["compute_handle"])' "$MNT/runs/$id/info.json")" != None ] ||
        fail "not run by Slurm"
    [ -z "$(pm ps -a --filter "name=amlfs-$id" --format '{{.Names}}')" ] || fail "the container outlived its run"
}

if ! slurm_available 2>"$T/why"; then
    echo "skipped: $(cat "$T/why")"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
chmod 755 "$T" # munged and slurmrestd (as nobody) must reach their files below it
slurm_start "$T/slurm" || { echo "slurm did not start"; echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$SHARED"
mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_base_image || { echo "no base image"; echo "0 passed, 1 failed"; exit 1; }
make_host_env host || { echo "0 passed, 1 failed"; exit 1; }
run_cases
