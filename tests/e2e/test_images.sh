#!/usr/bin/env bash
# test_images.sh: environments as container images (podman, private storage under the test's temp dir):
# image found or not, a Dockerfile build followed live, the image cache, rebuild, failures, runs inside.
. "$(dirname "$0")/../lib/e2e.sh"

. "$(dirname "$0")/../lib/podman.sh"
SECRET="S3cret-$RANDOM-$RANDOM-pw"
test_cleanup() { podman_cleanup; }

env_status() { cat "$MNT/environments/$1/status"; }

# The gate a Dockerfile's RUN step waits on: a file in the build context the server copied for the
# build (RUN --mount binds that folder live), created by the test when it has seen what it wants.
open_gate() {
    local dockerfile
    dockerfile=$(grep -l "$1" "$DATA"/images/*/context/Dockerfile 2>/dev/null | head -1)
    [ -n "$dockerfile" ] && touch "$(dirname "$dockerfile")/go"
}

gated_dockerfile() { # $1: a word that names this build's gate
    cat <<EOF
FROM $BASE
ENV GREETING=hello-from-the-image
COPY greet.txt /opt/greet.txt
RUN echo "step one of $1 started"
RUN --mount=type=bind,target=/ctx while [ ! -e /ctx/go ]; do sleep 0.05; done; echo "step two of $1 done"
EOF
}

t_01_an_image_on_this_machine_is_ready() {
    mkdir "$MNT/environments/bb" || fail "mkdir"
    printf 'image: %s\n' "$BASE" > "$MNT/environments/bb/environment.yaml" || fail "write"
    wait_status 20 "$MNT/environments/bb/status" Ready || fail "status: $(env_status bb)"
    grep -q "is on this machine" "$MNT/environments/bb/build.log" || fail "build.log: $(cat "$MNT/environments/bb/build.log")"
}

t_02_an_image_nowhere_to_be_found_fails_with_the_registry_error() {
    mkdir "$MNT/environments/nowhere" || fail "mkdir"
    printf 'image: registry.invalid/team/nothing:1\n' > "$MNT/environments/nowhere/environment.yaml"
    wait_status 30 "$MNT/environments/nowhere/status" Failed || fail "status: $(env_status nowhere)"
    grep -q "^Failed: image 'registry.invalid/team/nothing:1' is not on this machine and could not be pulled: .*registry.invalid" \
        "$MNT/environments/nowhere/status" || fail "reason: $(env_status nowhere)"
    [ "$(wc -l < "$MNT/environments/nowhere/status")" = 1 ] || fail "status is not one line"
    grep -q "^Error: .*registry.invalid" "$MNT/environments/nowhere/build.log" ||
        fail "podman's own error not in build.log: $(cat "$MNT/environments/nowhere/build.log")"
}

t_03_a_dockerfile_build_is_followed_live_and_a_run_waits_for_it() {
    local e=$MNT/environments/app
    mkdir "$e" "$MNT/experiments/early" || fail "mkdir"
    echo "copied into the image" > "$e/greet.txt"
    gated_dockerfile app > "$e/Dockerfile"
    printf 'build:\n  path: .\n' > "$e/environment.yaml" || fail "write"
    tail -f "$e/build.log" > "$T/app-build.out" 2>&1 &
    local tail_pid=$!
    if ! wait_for 30 grep -q "step one of app started" "$T/app-build.out"; then
        kill $tail_pid; open_gate "of app"
        fail "tail -f did not show the first step while building (status $(env_status app)): $(cat "$e/build.log")"
    fi
    [ "$(env_status app)" = Building ] || { kill $tail_pid; open_gate "of app"; fail "not Building: $(env_status app)"; }
    # A building environment cannot be deleted (its build would report to a new one of that name).
    rmdir "$e" 2>/dev/null && { kill $tail_pid; open_gate "of app"; fail "rmdir of a building environment worked"; }
    grep -q "is building version 1" "$MNT/environments/status" ||
        { kill $tail_pid; open_gate "of app"; fail "environments/status: $(cat "$MNT/environments/status")"; }
    id=$(printf 'command: echo ran in $GREETING\nenvironment: azureml:app@latest\n' | submit early) ||
        { kill $tail_pid; open_gate "of app"; fail "submit"; }
    # The build cannot finish while the gate is closed: the run must reach Preparing and wait there.
    wait_status 10 "$MNT/runs/$id/status" Preparing ||
        { kill $tail_pid; open_gate "of app"; fail "the run did not wait in Preparing: $(cat "$MNT/runs/$id/status")"; }
    open_gate "of app" || { kill $tail_pid; fail "no gate found under $DATA/images"; }
    wait_status 30 "$e/status" Ready || { kill $tail_pid; fail "status: $(env_status app)"; }
    wait_for 5 grep -q "step two of app done" "$T/app-build.out" || { kill $tail_pid; fail "last step not followed"; }
    kill $tail_pid
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "run: $(cat "$MNT/runs/$id/status") $(cat "$MNT/runs/$id/log")"
    grep -qx "ran in hello-from-the-image" "$MNT/runs/$id/log" || fail "run log: $(cat "$MNT/runs/$id/log")"
}

t_04_the_same_content_again_is_ready_at_once_without_a_build() {
    local e=$MNT/environments/app
    wait_status 30 "$e/status" Ready || fail "app not built"
    local before
    before=$(grep -c "STEP" "$e/build.log")
    printf 'build:\n  path: .\n' > "$e/environment.yaml" || fail "write"
    [ "$(env_status app)" = Ready ] || fail "second version not Ready at once: $(env_status app)"
    [ -d "$e/versions/2" ] || fail "no version 2: $(ls "$e/versions")"
    tail -n 1 "$e/build.log" | grep -q "version 2: same content as an image set up before" ||
        fail "build.log: $(tail -n 3 "$e/build.log")"
    [ "$(grep -c "STEP" "$e/build.log")" = "$before" ] || fail "podman build ran again"
    # The spec file and editors' scratch files are not part of the image's content.
    printf 'build:\n  path: .\ndescription: same image\n' > "$e/environment.yaml"
    echo scratch > "$e/.Dockerfile.swp"
    [ "$(env_status app)" = Ready ] || fail "version 3 (new description) was built again: $(env_status app)"
    rm -f "$e/.Dockerfile.swp"
}

t_05_rebuild_builds_again_without_cache() {
    local e=$MNT/environments/app
    wait_status 30 "$e/status" Ready || fail "app not built"
    echo rebuild > "$e/ctl" || fail "write ctl"
    wait_for 10 grep -q "rebuild requested" "$e/build.log" || fail "no rebuild in build.log"
    wait_status 60 "$e/status" Ready || fail "status after rebuild: $(env_status app)"
    grep -q "without cache" "$e/build.log" || fail "not built without cache"
    [ "$(grep -c "step one of app started" "$e/build.log")" -ge 2 ] || fail "steps did not run again"
    echo bogus > "$e/ctl" 2>/dev/null && fail "an unknown ctl command was accepted"
    grep -qx "Rejected: bogus: unknown command (known: rebuild)" "$e/ctl" || fail "ctl says: $(cat "$e/ctl")"
    echo rebuild > "$MNT/environments/bb/ctl" || fail "rebuild of an image environment"
    wait_status 30 "$MNT/environments/bb/status" Ready || fail "bb after rebuild: $(env_status bb)"
    return 0
}

t_06_a_failing_step_fails_the_environment_and_its_runs() {
    local e=$MNT/environments/broken
    mkdir "$e" "$MNT/experiments/onbroken" || fail "mkdir"
    printf 'FROM %s\nRUN echo about to fail; exit 3\n' "$BASE" > "$e/Dockerfile"
    printf 'build: {}\n' > "$e/environment.yaml"
    wait_status 30 "$e/status" Failed || fail "status: $(env_status broken)"
    grep -q '^Failed: the build failed: .*RUN echo about to fail; exit 3.*exit status 3' "$e/status" ||
        fail "reason: $(env_status broken)"
    grep -q "about to fail" "$e/build.log" || fail "build.log lacks the step's output"
    id=$(printf 'command: echo never\nenvironment: broken\n' | submit onbroken) || fail "submit"
    wait_status 20 "$MNT/runs/$id/status" Failed || fail "run: $(cat "$MNT/runs/$id/status")"
    grep -q "environment 'broken' version 1 is Failed: the build failed" "$MNT/runs/$id/info.json" ||
        fail "run error: $(cat "$MNT/runs/$id/info.json")"
}

t_07_a_conda_file_without_conda_fails_with_that_reason() {
    local e=$MNT/environments/conda
    mkdir "$e" || fail "mkdir"
    printf 'image: %s\nconda_file:\n  channels: [conda-forge]\n  dependencies: [python=3.11]\n' "$BASE" > "$e/environment.yaml"
    wait_status 60 "$e/status" Failed || fail "status: $(env_status conda)"
    grep -q "conda is not in the image" "$e/status" || fail "reason: $(env_status conda)"
}

t_08_a_run_in_the_image_sees_its_code_writes_outputs_and_is_canceled() {
    wait_status 30 "$MNT/environments/app/status" Ready || fail "app not built"
    mkdir "$MNT/experiments/inimage" || fail "mkdir"
    echo "the code's data" > "$MNT/experiments/inimage/data.txt"
    id=$(submit inimage <<'Y'
command: >-
  cat data.txt; cat /opt/greet.txt; echo "GREETING=$GREETING FOO=$FOO RUN=$AZUREML_RUN_ID";
  echo "net: $(ls /sys/class/net | tr '\n' ' ')"; pwd; echo result > outputs/result.txt;
  echo started; sleep 300
environment: azureml:app@latest
environment_variables:
  FOO: a value with spaces
properties:
  amlfs.network: "false"
Y
) || fail "submit"
    wait_for 20 grep -q started "$MNT/runs/$id/log" || fail "never started: $(cat "$MNT/runs/$id/status") $(cat "$MNT/runs/$id/log")"
    local log=$MNT/runs/$id/log
    grep -qx "the code's data" "$log" || fail "code not seen: $(cat "$log")"
    grep -qx "copied into the image" "$log" || fail "image content not seen"
    grep -qx "GREETING=hello-from-the-image FOO=a value with spaces RUN=$id" "$log" || fail "env: $(cat "$log")"
    grep -qx "net: lo " "$log" || fail "the container has a network: $(grep net: "$log")"
    head -1 "$log" | grep -qx '\[amlfs\] this job runs without network (properties: amlfs.network: "false")' ||
        fail "the log does not say the job has no network: $(head -1 "$log")"
    grep -qx "/work" "$log" || fail "working folder"
    [ "$(cat "$DATA/runs/$id/work/outputs/result.txt")" = result ] || fail "outputs not written"
    [ "$(pm ps --filter "name=amlfs-$id" --format '{{.Names}}')" = "amlfs-$id" ] || fail "no container amlfs-$id"
    [ "$(stat -c %a "$DATA/runs/$id/container.env")" = 600 ] || fail "env file mode"
    ps axww | grep -v grep | grep -q "a value with spaces" && fail "an environment value is on a command line"
    [ "$(cat "$MNT/runs/$id/status")" = Running ] || fail "not Running"
    echo cancel > "$MNT/runs/$id/ctl" || fail "cancel"
    wait_status 20 "$MNT/runs/$id/status" Canceled || fail "status: $(cat "$MNT/runs/$id/status")"
    wait_for 10 sh -c "[ -z \"\$(CONTAINERS_CONF=$DATA/containers.conf podman --root $AMLFS_PODMAN_ROOT --runroot $AMLFS_PODMAN_RUNROOT ps -a -q --filter name=amlfs-$id)\" ]" ||
        fail "the container outlived the cancel"
    [ ! -e "$DATA/runs/$id/container.env" ] || fail "env file left behind"
}

t_08b_a_container_job_has_the_network_unless_it_asks_not_to() {
    mkdir -p "$MNT/experiments/netdefault"
    id=$(submit netdefault <<'Y'
command: 'echo "net: $(ls /sys/class/net | tr "\n" " ")"'
environment: azureml:app@latest
Y
) || fail "submit: $(cat "$MNT/experiments/netdefault/status")"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status"): $(cat "$MNT/runs/$id/log")"
    grep -q "^net: .*[a-z0-9]" "$MNT/runs/$id/log" && ! grep -qx "net: lo " "$MNT/runs/$id/log" ||
        fail "no network by default: $(cat "$MNT/runs/$id/log")"
    ! grep -q "without network" "$MNT/runs/$id/log" || fail "the log says no network"
}

t_09_an_inline_image_environment_becomes_an_anonymous_version() {
    mkdir "$MNT/experiments/inline" || fail "mkdir"
    spec=$(printf 'command: echo inline\nenvironment:\n  image: %s\n' "$BASE")
    id=$(echo "$spec" | submit inline) || fail "submit"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "run: $(cat "$MNT/runs/$id/status") $(cat "$MNT/runs/$id/log")"
    env=$(sed -n 's/.*"environment": "\(anon-[0-9a-f]*\)".*/\1/p' "$MNT/runs/$id/info.json")
    [ -n "$env" ] && [ -d "$MNT/environments/$env" ] || fail "no anonymous environment: $(cat "$MNT/runs/$id/info.json")"
    grep -q "environment: azureml:$env:1" "$MNT/runs/$id/job.yaml" || fail "job.yaml: $(cat "$MNT/runs/$id/job.yaml")"
    id2=$(echo "$spec" | submit inline) || fail "second submit"
    wait_status 30 "$MNT/runs/$id2/status" Completed || fail "second run"
    grep -q "\"environment\": \"$env\"" "$MNT/runs/$id2/info.json" || fail "same inline environment, new name"
    [ "$(ls "$MNT/environments/$env/versions")" = 1 ] || fail "a second version for the same content"
}

t_10_a_registry_password_is_never_shown() {
    local e=$MNT/environments/private
    mkdir "$e" || fail "mkdir"
    echo "private greeting" > "$e/greet.txt"
    gated_dockerfile private > "$e/Dockerfile"
    printf 'build:\n  path: .\nimage_registry:\n  address: registry.invalid\n  username: someone\n  password: %s\n' \
        "$SECRET" > "$e/environment.yaml" || fail "write"
    wait_for 30 grep -q "step one of private started" "$e/build.log" || { open_gate "of private"; fail "build did not start"; }
    # While podman builds: no command line or environment shows the password.
    ps axeww > "$T/ps.out"
    open_gate "of private"
    grep -qF "$SECRET" "$T/ps.out" && fail "the password shows in ps"
    wait_status 30 "$e/status" Ready || fail "status: $(env_status private)"
    grep -q 'password: "\*\*\*"' "$e/environment.yaml" || fail "stored environment.yaml: $(cat "$e/environment.yaml")"
    grep -q 'password: "\*\*\*"' "$e/versions/1/environment.yaml" || fail "version 1: $(cat "$e/versions/1/environment.yaml")"
    grep -rqF "$SECRET" "$MNT" && fail "the password is in a file of the mount: $(grep -rlF "$SECRET" "$MNT")"
    grep -rqF "$SECRET" "$DATA" --include='*.log' --include='*.json' --include='*.yaml' --include='*.env' &&
        fail "the password is in a log or file: $(grep -rlF "$SECRET" "$DATA" --include='*.log' --include='*.json')"
    # Saved again as it reads back (***): the server keeps the password it has.
    { cat "$e/environment.yaml"; echo "description: saved as read"; } > "$T/again.yaml"
    cp "$T/again.yaml" "$e/environment.yaml" || fail "save with ***: $(env_status private)"
    wait_status 30 "$e/status" Ready || fail "version 2: $(env_status private)"
    grep -rqF "$SECRET" "$MNT" && fail "the password is in a file of the mount after version 2"
    # At rest: sealed in the database (and its log), which only the owner can open (the data folder was
    # made 0755 before the server started).
    grep -qaF "$SECRET" "$DATA"/workspace.db* && fail "the password is in the database: $(grep -laF "$SECRET" "$DATA"/workspace.db*)"
    [ "$(stat -c %a "$DATA")" = 700 ] || fail "data folder mode $(stat -c %a "$DATA")"
    for f in "$DATA"/workspace.db* "$DATA/secret.key"; do
        [ "$(stat -c %a "$f")" = 600 ] || fail "$f has mode $(stat -c %a "$f")"
    done
    return 0
}

# The processes of the gated step of build $1 (its container's shell, in a session of its own).
step_pids() { ps -eww -o pid=,args= | awk -v w="step two of $1 done" 'index($0, w) && !/awk/ {print $1}'; }
# Build containers in podman's storage (buildah's, outside podman's own list).
build_containers() { pm ps --all --external --format '{{.ID}} {{.Names}}' 2>/dev/null | awk '$2 ~ /-working-container/ {print $1}'; }
none_alive() { local p; for p in "$@"; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
none_listed() { local now c; now=$(build_containers); for c in "$@"; do grep -qx "$c" <<<"$now" && return 1; done; return 0; }

# A crash during a credentialed build left its auth file on disk and its podman running beside the next
# server's, both writing build.log; ending that podman left its build step running in its container
# (a session of its own, which ignores TERM) and its build containers in podman's storage.
t_11_a_build_the_server_crashed_in_is_ended_and_its_credentials_removed() {
    local e=$MNT/environments/crashy
    mkdir "$e" || fail "mkdir"
    echo "crashy greeting" > "$e/greet.txt"
    gated_dockerfile crashy > "$e/Dockerfile"
    printf 'build:\n  path: .\nimage_registry:\n  address: registry.invalid\n  username: someone\n  password: %s\n' \
        "$SECRET" > "$e/environment.yaml" || fail "write"
    wait_for 30 grep -q "step one of crashy started" "$e/build.log" || { open_gate "of crashy"; fail "build did not start"; }
    auth=$(ls -d "$DATA"/images/.auth-* 2>/dev/null | head -1)
    record=$(ls "$DATA"/images/.podman-* 2>/dev/null | head -1)
    [ -n "$auth" ] && [ -n "$record" ] || { open_gate "of crashy"; fail "no auth folder or podman record: $(ls -a "$DATA/images")"; }
    podman_pid=$(head -1 "$record" | awk '{print $1 == "podman" ? $2 : $1}')
    step_running() { [ -n "$(step_pids crashy)" ]; }
    wait_for 30 step_running || { open_gate "of crashy"; fail "the gated step did not start"; }
    steps=$(step_pids crashy)
    containers=$(build_containers)
    [ -n "$steps" ] && [ -n "$containers" ] || { open_gate "of crashy"; fail "no build step or container: '$steps' '$containers'"; }
    pid=$(server_pid)
    kill -9 "$pid"
    wait_for 5 sh -c "! kill -0 $pid" || fail "server still alive"
    kill -0 "$podman_pid" 2>/dev/null || { "$AMLFS_SERVER" --data-dir "$DATA"; fail "podman ended with the server: nothing to test"; }
    "$AMLFS_SERVER" --data-dir "$DATA" || fail "restart"
    wait_for 20 sh -c "! kill -0 $podman_pid 2>/dev/null" || fail "the old podman still runs"
    # shellcheck disable=SC2086
    wait_for 10 none_alive $steps || { open_gate "of crashy"; kill -9 $steps; fail "the old build step still runs ($steps)"; }
    # shellcheck disable=SC2086
    wait_for 10 none_listed $containers || fail "the old build containers are still there: $(pm ps -a --external 2>&1)"
    [ ! -e "$auth" ] || fail "the old auth folder is still there"
    open_gate "of crashy"
    wait_status 60 "$e/status" Ready || fail "the build was not taken up again: $(env_status crashy)"
    [ "$(grep -c "step two of crashy done" "$e/build.log")" -ge 1 ] || fail "build.log: $(tail -5 "$e/build.log")"
}

command -v podman >/dev/null || { echo "FAIL podman is not installed (make test installs it)"; echo "0 passed, 1 failed"; exit 1; }
mkdir -m 755 "$DATA" # as a user may make it: the server makes it private (t_10)
mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_base_image || { echo "FAIL could not import a busybox base image"; echo "0 passed, 1 failed"; exit 1; }
run_cases
