#!/usr/bin/env bash
# test_env_refs.sh: the environment: lines of az ml job files as users write them: a registry environment
# (azureml://registries/...) is this workspace's environment of that name, or is refused naming what to
# register; `file:./env.yml` and an inline mapping are anonymous environments named by their content
# (the build context's files and the conda file's text, read from the job's folder); versions with names
# (22.02-py3). Refused jobs leave no run and no environment behind.
. "$(dirname "$0")/../lib/e2e.sh"

# Podman storage of this test only (the inline build cases).
. "$(dirname "$0")/../lib/podman.sh"
test_cleanup() { podman_cleanup; }

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

# ---- 2. file:./env.yml ----

t_an_environment_file_of_the_experiment_is_an_anonymous_environment() {
    mkdir -p "$MNT/experiments/envfile" || fail "mkdir"
    printf 'print("trained")\n' > "$MNT/experiments/envfile/train.py"
    cat > "$MNT/experiments/envfile/env.yml" <<'Y'
$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json
name: host-tools
description: this machine's python, as it is
Y
    printf 'command: /usr/bin/python3 train.py\nenvironment: file:./env.yml\n' > "$T/job.yaml"
    cp "$T/job.yaml" "$MNT/experiments/envfile/job.yaml" || fail "submit: $(status_of envfile)"
    id=$(sed -n 's/^submitted \([^ ]*\).*/\1/p' "$MNT/experiments/envfile/status")
    [ -n "$id" ] || fail "status: $(status_of envfile)"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "run: $(cat "$MNT/runs/$id/status") $(cat "$MNT/runs/$id/log")"
    env=$(info "$id" environment)
    case "$env" in anon-*) ;; *) fail "environment: $env" ;; esac
    [ "$(info "$id" environment_reference)" = "file:./env.yml" ] || fail "info.json: $(cat "$MNT/runs/$id/info.json")"
    cmp "$MNT/experiments/envfile/env.yml" "$MNT/environments/$env/versions/1/environment.yaml" ||
        fail "version 1 is not the file: $(cat "$MNT/environments/$env/versions/1/environment.yaml")"
    grep -q "environment: azureml:$env:1" "$MNT/runs/$id/job.yaml" || fail "job.yaml: $(cat "$MNT/runs/$id/job.yaml")"
    # The same file again, and the same content written inline, are that environment, with no new version.
    cp "$T/job.yaml" "$MNT/experiments/envfile/job.yaml" || fail "again: $(status_of envfile)"
    printf 'command: /usr/bin/python3 train.py\nenvironment:\n  description: this machine'"'"'s python, as it is\n' \
        > "$MNT/experiments/envfile/job.yaml" || fail "inline: $(status_of envfile)"
    id=$(sed -n 's/^submitted \([^ ]*\).*/\1/p' "$MNT/experiments/envfile/status")
    [ "$(info "$id" environment)" = "$env" ] || fail "inline: $(cat "$MNT/runs/$id/info.json")"
    [ "$(ls "$MNT/environments/$env/versions")" = 1 ] || fail "versions: $(ls "$MNT/environments/$env/versions")"
}

t_an_environment_file_missing_or_not_an_environment_is_refused_with_the_line() {
    mkdir -p "$MNT/experiments/badfile" || fail "mkdir"
    printf 'channels: [conda-forge]\ndependencies: [python=3.11]\n' > "$MNT/experiments/badfile/conda.yml"
    printf 'image: x\nimagee: y\n' > "$MNT/experiments/badfile/typo.yml"
    local runs envs
    runs=$(run_count)
    envs=$(env_count)
    check() { # ENVIRONMENT-VALUE ERRNO MESSAGE
        local r
        r=$(printf 'command: echo hi\nenvironment: %s\n' "$1" | write_spec "$MNT/experiments/badfile/job.yaml")
        [ "$r" = "$2" ] || fail "[$1] close: $r ($(status_of badfile))"
        grep -qF "$3" "$MNT/experiments/badfile/status" || fail "[$1] status: $(status_of badfile)"
    }
    check file:./env.yml ENOENT "Rejected: job.yaml line 2 column 14: environment file './env.yml' not found in experiment 'badfile'"
    check file:conda.yml EINVAL "Rejected: job.yaml line 2 column 14: environment file 'conda.yml' is not an environment: conda.yml line 1 column 1: 'channels' looks like a conda file"
    check file:typo.yml EINVAL "Rejected: job.yaml line 2 column 14: environment file 'typo.yml' is not an environment: typo.yml line 2 column 1: unknown key 'imagee' in environment (did you mean 'image'?)"
    check file:../../etc/passwd EINVAL "Rejected: job.yaml line 2 column 14: environment file '../../etc/passwd' leads outside the experiment folder"
    check "'file:'" EINVAL "Rejected: job.yaml line 2 column 14: environment 'file:' names no file: write e.g. \`environment: file:./environment.yml\`"
    [ "$(run_count)" = "$runs" ] && [ "$(env_count)" = "$envs" ] || fail "a refused job left something: $(ls "$MNT/environments")"
}

# ---- 3. inline environments: paths from the job's folder, named by content ----

write_context() { # FOLDER WORD
    mkdir -p "$1" && printf 'FROM %s\nCOPY which.txt /opt/which.txt\n' "$BASE" > "$1/Dockerfile" && echo "$2" > "$1/which.txt"
}

inline_build_job() {
    cat <<'Y'
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: cat /opt/which.txt
environment:
  build:
    path: docker-context
display_name: inline build
Y
}

t_an_inline_build_is_named_by_its_context_s_content() {
    local x=$MNT/experiments/ctx-a
    mkdir -p "$x" || fail "mkdir"
    write_context "$x/docker-context" A || fail "context"
    inline_build_job > "$T/job.yaml"
    cp "$T/job.yaml" "$x/job.yaml" || fail "submit: $(status_of ctx-a)"
    id=$(sed -n 's/^submitted \([^ ]*\).*/\1/p' "$x/status")
    wait_status 60 "$MNT/runs/$id/status" Completed || fail "run: $(cat "$MNT/runs/$id/status") $(cat "$MNT/runs/$id/log")"
    grep -qx A "$MNT/runs/$id/log" || fail "log: $(cat "$MNT/runs/$id/log")"
    env_a=$(info "$id" environment)
    [ -f "$MNT/environments/$env_a/context/Dockerfile" ] || fail "the context is not kept: $(ls -R "$MNT/environments/$env_a")"
    # The same job again: the same environment, no new version, no build.
    cp "$T/job.yaml" "$x/job.yaml" || fail "again: $(status_of ctx-a)"
    id=$(sed -n 's/^submitted \([^ ]*\).*/\1/p' "$x/status")
    [ "$(info "$id" environment)" = "$env_a" ] || fail "same job, other environment: $(info "$id" environment)"
    [ "$(ls "$MNT/environments/$env_a/versions")" = 1 ] || fail "versions: $(ls "$MNT/environments/$env_a/versions")"
    # Another experiment, the same YAML, another Dockerfile context: another environment, and its image.
    local y=$MNT/experiments/ctx-b
    mkdir -p "$y" || fail "mkdir"
    write_context "$y/docker-context" B || fail "context"
    cp "$T/job.yaml" "$y/job.yaml" || fail "submit b: $(status_of ctx-b)"
    id=$(sed -n 's/^submitted \([^ ]*\).*/\1/p' "$y/status")
    env_b=$(info "$id" environment)
    [ "$env_b" != "$env_a" ] || fail "two Dockerfile contexts share $env_a"
    wait_status 60 "$MNT/runs/$id/status" Completed || fail "run b: $(cat "$MNT/runs/$id/status") $(cat "$MNT/runs/$id/log")"
    grep -qx B "$MNT/runs/$id/log" || fail "log b: $(cat "$MNT/runs/$id/log")"
    # Changing the context's file changes the environment; changing it back finds the first one.
    echo C > "$x/docker-context/which.txt"
    cp "$T/job.yaml" "$x/job.yaml" || fail "c: $(status_of ctx-a)"
    id=$(sed -n 's/^submitted \([^ ]*\).*/\1/p' "$x/status")
    env_c=$(info "$id" environment)
    [ "$env_c" != "$env_a" ] && [ "$env_c" != "$env_b" ] || fail "an edited context kept its environment"
    echo A > "$x/docker-context/which.txt"
    cp "$T/job.yaml" "$x/job.yaml" || fail "a again: $(status_of ctx-a)"
    id=$(sed -n 's/^submitted \([^ ]*\).*/\1/p' "$x/status")
    [ "$(info "$id" environment)" = "$env_a" ] || fail "the first context again: $(info "$id" environment)"
}

t_an_inline_conda_file_is_read_from_the_job_s_folder_and_named_by_its_text() {
    local x=$MNT/experiments/conda
    mkdir -p "$x" || fail "mkdir"
    printf 'name: train\nchannels: [conda-forge]\ndependencies: [python=3.11, scikit-learn]\n' > "$x/conda.yml"
    job() { printf 'command: python train.py\nenvironment:\n  image: %s\n  conda_file: %s\n' "$BASE" "$1"; }
    id=$(job conda.yml | submit conda) || fail "submit: $(status_of conda)"
    env1=$(info "$id" environment)
    [ -f "$MNT/environments/$env1/conda.yml" ] && cmp "$x/conda.yml" "$MNT/environments/$env1/conda.yml" ||
        fail "the conda file is not kept: $(ls "$MNT/environments/$env1")"
    # Written another way, the same text: the same environment.
    id=$(job ./conda.yml | submit conda) || fail "again: $(status_of conda)"
    [ "$(info "$id" environment)" = "$env1" ] || fail "same conda text, another environment"
    # busybox has no conda: the version fails with that reason (the file was read, not refused).
    wait_status 60 "$MNT/environments/$env1/status" Failed || fail "status: $(cat "$MNT/environments/$env1/status")"
    grep -q "conda is not in the image" "$MNT/environments/$env1/status" || fail "reason: $(cat "$MNT/environments/$env1/status")"
    printf 'name: train\nchannels: [conda-forge]\ndependencies: [python=3.12]\n' > "$x/conda.yml"
    id=$(job conda.yml | submit conda) || fail "changed: $(status_of conda)"
    [ "$(info "$id" environment)" != "$env1" ] || fail "another conda text, the same environment"
}

t_an_inline_build_without_its_folder_is_refused_and_leaves_nothing() {
    local x=$MNT/experiments/nofolder
    mkdir -p "$x/empty-context" || fail "mkdir"
    local runs envs dirs
    runs=$(run_count)
    envs=$(env_count)
    dirs=$(ls "$DATA/environments" | wc -l)
    r=$(inline_build_job | write_spec "$x/job.yaml")
    [ "$r" = ENOENT ] || fail "close: $r ($(status_of nofolder))"
    grep -qxF "Rejected: job.yaml line 5 column 11: build.path 'docker-context' not found in experiment 'nofolder'" "$x/status" ||
        fail "status: $(status_of nofolder)"
    r=$(inline_build_job | sed 's/docker-context/empty-context/' | write_spec "$x/job.yaml")
    [ "$r" = ENOENT ] || fail "close: $r ($(status_of nofolder))"
    grep -qF "Rejected: job.yaml line 5 column 5: build.dockerfile_path 'Dockerfile' is not a file in empty-context: put your Dockerfile there" \
        "$x/status" || fail "status: $(status_of nofolder)"
    r=$(printf 'command: x\nenvironment:\n  image: %s\n  conda_file: nope.yml\n' "$BASE" | write_spec "$x/job.yaml")
    [ "$r" = ENOENT ] || fail "close: $r ($(status_of nofolder))"
    grep -qxF "Rejected: job.yaml line 4 column 15: conda_file 'nope.yml' not found in experiment 'nofolder'" "$x/status" ||
        fail "status: $(status_of nofolder)"
    # Refused at the very end (a password written as it reads back, with none given before): the
    # anonymous environment made for the job goes again.
    r=$(printf 'command: x\nenvironment:\n  image: %s\n  image_registry:\n    address: registry.invalid\n    password: "***"\n' \
        "$BASE" | write_spec "$x/job.yaml")
    [ "$r" = EINVAL ] || fail "close: $r ($(status_of nofolder))"
    grep -qF "image_registry password is ***, but no earlier version of 'anon-" "$x/status" || fail "status: $(status_of nofolder)"
    [ "$(run_count)" = "$runs" ] && [ "$(env_count)" = "$envs" ] || fail "a refused job left something: $(ls "$MNT/environments")"
    [ "$(ls "$DATA/environments" | wc -l)" = "$dirs" ] || fail "a refused job left a folder: $(ls "$DATA/environments")"
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
