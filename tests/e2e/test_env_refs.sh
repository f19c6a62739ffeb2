#!/usr/bin/env bash
# test_env_refs.sh: the environment: lines of az ml job files as users write them: a registry environment
# (azureml://registries/...) is this workspace's environment of that name, or is refused naming what to
# register; `file:./env.yml` and an inline mapping are anonymous environments named by their content
# (the build context's files and the conda file's text, read from the job's folder); versions with names
# (22.02-py3). Refused jobs leave no run and no environment behind.
. "$(dirname "$0")/../lib/e2e.sh"

# Podman storage of this test only (the inline build cases), as in test_images.sh.
export AMLFS_PODMAN_ROOT=$T/podman/root AMLFS_PODMAN_RUNROOT=$T/podman/runroot
BASE=localhost/amlfs-test/busybox:1

pm() { CONTAINERS_CONF=$DATA/containers.conf podman --root "$AMLFS_PODMAN_ROOT" --runroot "$AMLFS_PODMAN_RUNROOT" "$@"; }

podman_cleanup() {
    [ -d "$T/podman" ] || return 0
    pm rm --all --force --time 0 >/dev/null 2>&1
    pm system reset --force >/dev/null 2>&1
    grep -F " $T/podman" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m"; done
}
trap 'unmount_ws; stop_runs; stop_server; podman_cleanup; cleanup' EXIT INT TERM

make_base_image() {
    local root=$T/rootfs
    mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/work" || return 1
    cp /bin/busybox "$root/bin/busybox" || return 1
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
    done
    tar -C "$root" -cf "$T/rootfs.tar" . && pm import -q "$T/rootfs.tar" "$BASE" >/dev/null
}

# A field of a run's info.json.
info() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print("null" if v is None else v)' \
    "$MNT/runs/$1/info.json" "$2"; }
env_count() { ls "$MNT/environments" | grep -vx status | wc -l; }
status_of() { cat "$MNT/experiments/$1/status"; }

# What az ml's sklearn example says (examples/jobs/single-step/scikit-learn/iris), on this machine's python.
iris_job() { # ENVIRONMENT-LINE
    cat <<Y
\$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
code: src
command: /usr/bin/python3 main.py --kernel \${{inputs.kernel}}
inputs:
  kernel: linear
environment: $1
compute: azureml:local
display_name: sklearn-iris-example
description: Train a scikit-learn SVM on the Iris dataset.
Y
}

make_iris() { # EXPERIMENT
    mkdir -p "$MNT/experiments/$1/src" || return 1
    printf 'import sys\nprint("kernel", sys.argv[-1])\n' > "$MNT/experiments/$1/src/main.py"
}

# ---- 1. registry environments ----

t_a_registry_environment_is_this_workspace_s_environment_of_that_name() {
    make_host_env sklearn-1.5 || fail "mkdir environment"
    printf 'name: sklearn-1.5\ndescription: again\n' > "$MNT/environments/sklearn-1.5/environment.yaml" || fail "version 2"
    make_iris iris || fail "experiment"
    local ref=azureml://registries/azureml/environments/sklearn-1.5/labels/latest
    id=$(iris_job "$ref" | submit iris) || fail "submit: $(status_of iris)"
    grep -qxF "submitted $id (environment $ref is this workspace's sklearn-1.5, version 2)" "$MNT/experiments/iris/status" ||
        fail "status: $(status_of iris)"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "run: $(cat "$MNT/runs/$id/status") $(cat "$MNT/runs/$id/log")"
    grep -qx "kernel linear" "$MNT/runs/$id/log" || fail "log: $(cat "$MNT/runs/$id/log")"
    [ "$(info "$id" environment_reference)" = "$ref" ] || fail "info.json: $(cat "$MNT/runs/$id/info.json")"
    [ "$(info "$id" environment)" = sklearn-1.5 ] && [ "$(info "$id" environment_version)" = 2 ] ||
        fail "info.json: $(cat "$MNT/runs/$id/info.json")"
    grep -q "environment: azureml:sklearn-1.5:2" "$MNT/runs/$id/job.yaml" || fail "job.yaml: $(cat "$MNT/runs/$id/job.yaml")"
    # A version of the registry's is that version here.
    ref=azureml://registries/azureml/environments/sklearn-1.5/versions/1
    id=$(iris_job "$ref" | submit iris) || fail "submit: $(status_of iris)"
    grep -qxF "submitted $id (environment $ref is this workspace's sklearn-1.5, version 1)" "$MNT/experiments/iris/status" ||
        fail "status: $(status_of iris)"
    [ "$(info "$id" environment_version)" = 1 ] || fail "info.json: $(cat "$MNT/runs/$id/info.json")"
}

t_a_registry_environment_that_is_not_here_is_refused_naming_what_to_register() {
    make_iris iris2 || fail "experiment"
    local runs envs
    runs=$(run_count)
    envs=$(env_count)
    r=$(iris_job azureml://registries/azureml/environments/lightgbm-3.3/labels/latest |
        write_spec "$MNT/experiments/iris2/job.yaml")
    [ "$r" = ENOENT ] || fail "close: $r ($(status_of iris2))"
    grep -qxF "Rejected: job.yaml line 6 column 14: environment 'lightgbm-3.3' (from registry 'azureml') is not in this workspace: mkdir environments/lightgbm-3.3 and write its environment.yaml" \
        "$MNT/experiments/iris2/status" || fail "status: $(status_of iris2)"
    make_host_env lightgbm-3.3 || fail "mkdir"
    r=$(iris_job azureml://registries/azureml/environments/lightgbm-3.3/versions/7 |
        write_spec "$MNT/experiments/iris2/job.yaml")
    [ "$r" = ENOENT ] || fail "close: $r ($(status_of iris2))"
    grep -qF "line 6 column 14: environment 'lightgbm-3.3' (from registry 'azureml') has no version '7' here (known: 1)" \
        "$MNT/experiments/iris2/status" || fail "status: $(status_of iris2)"
    r=$(iris_job azureml://registries/azureml/environments/lightgbm-3.3/labels/stable |
        write_spec "$MNT/experiments/iris2/job.yaml")
    [ "$r" = EINVAL ] || fail "close: $r ($(status_of iris2))"
    grep -qF "line 6 column 14: environment 'azureml://registries/azureml/environments/lightgbm-3.3/labels/stable': the only label here is 'latest'" \
        "$MNT/experiments/iris2/status" || fail "status: $(status_of iris2)"
    [ "$(run_count)" = "$runs" ] && [ "$(env_count)" = $((envs + 1)) ] || fail "a refused job left something: $(ls "$MNT/environments")"
}



# ---- 4. versions with names ----

t_versions_may_be_names() {
    local e=$MNT/environments/pytorch-ngc
    mkdir "$e" || fail "mkdir"
    printf 'name: pytorch-ngc\nversion: 22.02-py3\ndescription: the NGC release\n' > "$e/environment.yaml" || fail "write: $(cat "$e/status")"
    [ -f "$e/versions/22.02-py3/environment.yaml" ] || fail "versions: $(ls "$e/versions")"
    grep -q "version: 22.02-py3" "$e/versions/22.02-py3/environment.yaml" || fail "version yaml"
    # Without version: the next whole number; listed in registration order.
    printf 'name: pytorch-ngc\ndescription: next\n' > "$e/environment.yaml" || fail "write 2: $(cat "$e/status")"
    [ "$(ls -U "$e/versions" | tr '\n' ' ')" = "22.02-py3 1 " ] || fail "versions: $(ls -U "$e/versions" | tr '\n' ' ')"
    mkdir -p "$MNT/experiments/ngc"
    id=$(printf 'command: echo ngc\nenvironment: azureml:pytorch-ngc:22.02-py3\n' | submit ngc) || fail "submit: $(status_of ngc)"
    [ "$(info "$id" environment_version)" = 22.02-py3 ] || fail "info.json: $(cat "$MNT/runs/$id/info.json")"
    grep -q "environment: azureml:pytorch-ngc:22.02-py3" "$MNT/runs/$id/job.yaml" || fail "job.yaml: $(cat "$MNT/runs/$id/job.yaml")"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "run: $(cat "$MNT/runs/$id/status")"
    # @latest: the newest registered, whatever its name.
    printf 'name: pytorch-ngc\nversion: 21.12-py3\n' > "$e/environment.yaml" || fail "write 3: $(cat "$e/status")"
    id=$(printf 'command: echo ngc\nenvironment: azureml:pytorch-ngc@latest\n' | submit ngc) || fail "submit: $(status_of ngc)"
    [ "$(info "$id" environment_version)" = 21.12-py3 ] || fail "@latest: $(cat "$MNT/runs/$id/info.json")"
    # A name taken, a name that is not one, a version not there.
    r=$(printf 'version: 22.02-py3\n' | write_spec "$e/environment.yaml")
    [ "$r" = EEXIST ] || fail "taken: $r $(cat "$e/status")"
    grep -qF "already has version 22.02-py3" "$e/status" || fail "status: $(cat "$e/status")"
    r=$(printf 'version: "22.02 py3"\n' | write_spec "$e/environment.yaml")
    [ "$r" = EINVAL ] || fail "bad: $r $(cat "$e/status")"
    r=$(printf 'command: echo ngc\nenvironment: azureml:pytorch-ngc:23.01-py3\n' | write_spec "$MNT/experiments/ngc/job.yaml")
    [ "$r" = ENOENT ] || fail "missing version: $r"
    grep -qF "environment 'pytorch-ngc' has no version '23.01-py3' (known: 22.02-py3, 1, 21.12-py3)" \
        "$MNT/experiments/ngc/status" || fail "status: $(status_of ngc)"
}

command -v podman >/dev/null || { echo "FAIL podman is not installed (make test installs it)"; echo "0 passed, 1 failed"; exit 1; }
mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_host_env host >/dev/null 2>&1
make_base_image || { echo "FAIL could not import a busybox base image"; echo "0 passed, 1 failed"; exit 1; }
run_cases
