#!/usr/bin/env bash
# test_bad_input.sh: every refused input: close() fails with a fitting errno, nothing is created,
# and the folder's status names the file, line and column and what to do.
. "$(dirname "$0")/../lib/e2e.sh"

# refused EXPERIMENT ERRNO STATUS-FRAGMENT < job.yaml
refused() {
    local before got
    before=$(run_count)
    got=$(write_spec "$MNT/experiments/$1/job.yaml")
    [ "$got" = "$2" ] || fail "close() gave $got, expected $2"
    grep -q -- "$3" "$MNT/experiments/$1/status" || fail "status: $(cat "$MNT/experiments/$1/status")"
    grep -q "^Rejected: job.yaml line [0-9]* column [0-9]*: " "$MNT/experiments/$1/status" ||
        fail "status lacks file, line and column: $(cat "$MNT/experiments/$1/status")"
    [ "$(run_count)" = "$before" ] || fail "a run was created"
    [ "$(wc -l < "$MNT/experiments/$1/status")" = 1 ] || fail "status is not one line"
}

t_yaml_that_does_not_parse() {
    mkdir "$MNT/experiments/b1"
    printf 'command: echo hi\nenvironment: [host\n' | refused b1 EINVAL "line"
    # The text the user wrote is kept, so an editor can fix it.
    grep -q "environment: \[host" "$MNT/experiments/b1/job.yaml" || fail "job.yaml text lost"
}

t_unknown_key_says_did_you_mean() {
    mkdir "$MNT/experiments/b2"
    printf 'comand: echo hi\nenvironment: host\n' | refused b2 EINVAL "did you mean 'command'"
}

t_missing_command() {
    mkdir "$MNT/experiments/b3"
    printf 'environment: host\n' | refused b3 EINVAL "missing 'command'"
}

t_missing_environment_names_the_known_ones() {
    mkdir "$MNT/experiments/b4"
    printf 'command: echo hi\nenvironment: azureml:nope@latest\n' |
        refused b4 ENOENT "environment 'nope' not found (known: host)"
    grep -q "line 2 column" "$MNT/experiments/b4/status" || fail "wrong position"
}

t_missing_compute_names_the_known_ones() {
    mkdir "$MNT/experiments/b5"
    printf 'command: echo hi\nenvironment: host\ncompute: azureml:gpu-clustr\n' |
        refused b5 ENOENT "compute 'gpu-clustr' not found (known: local)"
}

t_unknown_input_in_command() {
    mkdir "$MNT/experiments/b6"
    printf 'command: echo ${{inputs.epochs}}\nenvironment: host\ninputs:\n  epoch: 1\n' |
        refused b6 EINVAL "epochs"
}

t_invalid_directory_names() {
    mkdir "$MNT/experiments/bad name" 2>/dev/null && fail "mkdir of 'bad name' succeeded"
    [ ! -e "$MNT/experiments/bad name" ] || fail "it was created"
    grep -q "not a valid experiment name" "$MNT/experiments/status" ||
        fail "experiments/status: $(cat "$MNT/experiments/status")"
    mkdir "$MNT/environments/-x" 2>/dev/null && fail "mkdir of '-x' succeeded"
    grep -q "not a valid environment name" "$MNT/environments/status" ||
        fail "environments/status: $(cat "$MNT/environments/status")"
    mkdir "$MNT/experiments/$(printf 'two\nlines')" 2>/dev/null && fail "mkdir of a name with a newline succeeded"
    [ "$(wc -l < "$MNT/experiments/status")" = 1 ] && grep -qF "two\nlines" "$MNT/experiments/status" ||
        fail "a newline in a name split the status: $(cat -A "$MNT/experiments/status")"
    mkdir "$MNT/experiments/twice" || fail "first mkdir"
    mkdir "$MNT/experiments/twice" 2>/dev/null && fail "a second mkdir of an existing experiment succeeded"
    return 0
}

t_refused_rmdir_is_explained_in_the_folder_status() {
    mkdir "$MNT/experiments/keep" && echo data > "$MNT/experiments/keep/train.py" || fail "set-up"
    rmdir "$MNT/experiments/keep" 2>/dev/null && fail "rmdir of an experiment with files worked"
    [ -f "$MNT/experiments/keep/train.py" ] || fail "its files are gone"
    grep -q "^Rejected: experiment 'keep' still holds files" "$MNT/experiments/status" ||
        fail "experiments/status: $(cat "$MNT/experiments/status")"
    id=$(printf 'command: sleep 300\nenvironment: host\n' | submit keep) || fail "submit"
    rmdir "$MNT/environments/host" 2>/dev/null && fail "rmdir of an environment a run uses worked"
    grep -q "^Rejected: environment 'host' is used by run $id" "$MNT/environments/status" ||
        fail "environments/status: $(cat "$MNT/environments/status")"
    echo cancel > "$MNT/runs/$id/ctl"
    wait_status 15 "$MNT/runs/$id/status" Canceled || fail "cancel"
}

t_bad_environment_yaml_registers_nothing() {
    mkdir "$MNT/environments/broken"
    got=$(printf 'name: broken\nimagee: python:3.11\n' | write_spec "$MNT/environments/broken/environment.yaml")
    [ "$got" = EINVAL ] || fail "close() gave $got"
    grep -q "^Rejected: environment.yaml line 2 column 1: .*did you mean 'image'" "$MNT/environments/broken/status" ||
        fail "status: $(cat "$MNT/environments/broken/status")"
    [ -z "$(ls "$MNT/environments/broken/versions" 2>/dev/null)" ] || fail "a version was registered"
    got=$(printf 'channels: [conda-forge]\ndependencies: [python=3.11]\n' |
        write_spec "$MNT/environments/broken/environment.yaml")
    [ "$got" = EINVAL ] && grep -q "conda" "$MNT/environments/broken/status" || fail "conda file as environment: $got"
}

# A NUL byte made libyaml stop there: the image line after it was lost and a host environment registered.
t_a_nul_byte_is_refused_naming_where_it_is() {
    mkdir "$MNT/environments/nul"
    got=$(printf 'description: x\0\nimage: busybox:latest\n' | write_spec "$MNT/environments/nul/environment.yaml")
    [ "$got" = EINVAL ] && grep -q "^Rejected: environment.yaml line 1 column 15: a NUL byte" "$MNT/environments/nul/status" ||
        fail "close() gave $got; status: $(cat "$MNT/environments/nul/status")"
    [ -z "$(ls "$MNT/environments/nul/versions" 2>/dev/null)" ] || fail "a version was registered"
}

t_writing_a_read_only_file_is_refused_not_eio() {
    mkdir "$MNT/experiments/ro"
    id=$(printf 'command: echo hi\nenvironment: host\n' | submit ro) || fail "submit"
    got=$(echo x | write_spec "$MNT/runs/$id/status")
    [ "$got" = EACCES ] || [ "$got" = EROFS ] || fail "writing status gave $got"
    got=$(echo x | write_spec "$MNT/workspace.json")
    [ "$got" = EACCES ] || [ "$got" = EROFS ] || fail "writing workspace.json gave $got"
    echo pause > "$MNT/runs/$id/ctl" 2>/dev/null && fail "an unknown ctl word was accepted"
    # A refused command says why where it was written: reading ctl back.
    [ "$(cat "$MNT/runs/$id/ctl")" = "Rejected: pause: unknown command (known: cancel)" ] ||
        fail "ctl: $(cat "$MNT/runs/$id/ctl")"
    return 0
}

# ctl_refused CTL-FILE TEXT ERRNO SAYS: writing TEXT to the ctl file fails with ERRNO and reading the file
# back is the one line SAYS.
ctl_refused() {
    local got
    got=$(printf '%s' "$2" | write_spec "$1")
    [ "$got" = "$3" ] || fail "writing '$2' to $1 gave $got, expected $3"
    [ "$(cat "$1")" = "$4" ] || fail "$1 says: $(cat -A "$1")"
    [ "$(wc -l < "$1")" = 1 ] || fail "$1 is not one line: $(cat -A "$1")"
}

# A refused ctl write said why nowhere: each fails with an errno and reading ctl back says why.
# A file far over a spec's size moved onto job.yaml (a 1 TiB sparse file): refused as too large, and
# nothing moves. The server read it whole to hide secrets in it and failed after renaming it, so mv
# reported an error for a rename that had happened.
t_a_huge_file_moved_onto_job_yaml_is_refused_and_stays_where_it_was() {
    mkdir "$MNT/experiments/huge" && echo x > "$MNT/experiments/huge/seed" || fail "setup"
    local dir err
    dir=$(dirname "$(find "$DATA/experiments/huge" -name seed | head -1)")
    truncate -s 1T "$dir/big" || fail "truncate"
    err=$(mv "$MNT/experiments/huge/big" "$MNT/experiments/huge/job.yaml" 2>&1) && fail "mv succeeded"
    [[ $err == *"File too large"* ]] || fail "mv said: $err"
    [ -f "$dir/big" ] && [ ! -e "$dir/job.yaml" ] || fail "moved anyway: $(ls "$dir")"
    kill -0 "$(server_pid)" || fail "the server died"
    # Through the API (no mount to refuse it): renamed, and not read whole on the way.
    local code
    code=$(curl -s -o "$T/rename.out" -w '%{http_code}' -X POST --unix-socket "$DATA/server.sock" \
        "http://localhost/v1/experiments/huge/files/big?rename_to=job.yaml")
    [ "$code" = 200 ] && [ -f "$dir/job.yaml" ] || fail "API rename: $code $(cat "$T/rename.out")"
    rm -f "$dir/big" "$dir/job.yaml"
}

t_a_rebuild_of_a_host_environment_is_refused_saying_why() {
    ctl_refused "$MNT/environments/host/ctl" rebuild EINVAL \
        "Rejected: rebuild: environment 'host' uses this machine's tools as they are: there is no image to rebuild"
}

t_an_unknown_ctl_word_is_refused_saying_why() {
    ctl_refused "$MNT/environments/host/ctl" pause EINVAL "Rejected: pause: unknown command (known: rebuild)"
    # A newline inside the word never reaches the one-line answer raw.
    ctl_refused "$MNT/environments/host/ctl" "$(printf 'pa\nuse')" EINVAL \
        'Rejected: pa\nuse: unknown command (known: rebuild)'
}

t_a_cancel_of_an_ended_run_is_refused_saying_why() {
    mkdir "$MNT/experiments/ended"
    id=$(printf 'command: echo done\nenvironment: host\n' | submit ended) || fail "submit"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status")"
    ctl_refused "$MNT/runs/$id/ctl" cancel EINVAL "Rejected: cancel: run $id already Completed"
    [ "$(head -1 "$MNT/runs/$id/status")" = Completed ] || fail "status after the refusal: $(cat "$MNT/runs/$id/status")"
}

mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_host_env host || { echo "0 passed, 1 failed"; exit 1; }
run_cases
