#!/usr/bin/env bash
# test_editors.sh: saving job.yaml the ways editors do submits exactly one run per save, and their
# scratch files (swap files, backups, 4913) are kept as plain files and never acted on.
. "$(dirname "$0")/../lib/e2e.sh"

runs_of() { ls "$MNT/experiments/$1/runs" 2>/dev/null | grep -vx latest | wc -l; }

t_vim_save_with_rename_submits_exactly_one_run() {
    mkdir "$MNT/experiments/vim1"
    printf 'command: echo first\nenvironment: host\n' > "$MNT/experiments/vim1/job.yaml"
    [ "$(runs_of vim1)" = 1 ] || fail "first write: $(runs_of vim1) runs"
    # backupcopy=no: vim renames job.yaml to job.yaml~, writes a new job.yaml, removes the backup.
    (cd "$MNT/experiments/vim1" && timeout 20 vim -es -N -u NONE -i NONE \
        -c 'set backup backupcopy=no' -c '1s/first/second/' -c 'wq' job.yaml) || fail "vim failed"
    [ "$(runs_of vim1)" = 2 ] || fail "after the vim save: $(runs_of vim1) runs, expected 2"
    grep -q "echo second" "$MNT/experiments/vim1/job.yaml" || fail "saved text"
    id=$(readlink "$MNT/experiments/vim1/runs/latest"); id=${id##*/}
    wait_status 20 "$MNT/runs/$id/status" Completed && grep -qx second "$MNT/runs/$id/log" || fail "vim's run"
}

t_vim_save_in_place_with_swap_file_submits_exactly_one_run() {
    mkdir "$MNT/experiments/vim2"
    printf 'command: echo one\nenvironment: host\n' > "$MNT/experiments/vim2/job.yaml"
    # Default settings, with a swap file in the folder (.job.yaml.swp) while editing.
    (cd "$MNT/experiments/vim2" && timeout 20 vim -es -N -u NONE -i NONE \
        -c 'set backupcopy=yes' -c '1s/one/two/' -c 'wq' job.yaml) || fail "vim failed"
    [ "$(runs_of vim2)" = 2 ] || fail "after the vim save: $(runs_of vim2) runs, expected 2"
    [ ! -e "$MNT/experiments/vim2/.job.yaml.swp" ] || fail "swap file left behind"
}

t_scratch_files_are_never_acted_on() {
    mkdir "$MNT/experiments/scratch"
    for f in .job.yaml.swp .job.yaml.swx job.yaml~ 4913 .#job.yaml '#job.yaml#'; do
        printf 'command: echo scratch\nenvironment: host\n' > "$MNT/experiments/scratch/$f" || fail "write $f"
    done
    [ "$(runs_of scratch)" = 0 ] || fail "a scratch file submitted a run"
    [ "$(ls -A "$MNT/experiments/scratch" | grep -c .)" -ge 8 ] || fail "files missing: $(ls -A "$MNT/experiments/scratch")"
}

t_rename_onto_job_yaml_submits_once() {
    mkdir "$MNT/experiments/mv"
    printf 'command: echo moved\nenvironment: host\n' > "$MNT/experiments/mv/draft.yaml"
    mv "$MNT/experiments/mv/draft.yaml" "$MNT/experiments/mv/job.yaml" || fail "mv"
    [ "$(runs_of mv)" = 1 ] || fail "$(runs_of mv) runs after mv"
    [ ! -e "$MNT/experiments/mv/draft.yaml" ] || fail "draft still there"
    grep -q "^submitted " "$MNT/experiments/mv/status" || fail "status: $(cat "$MNT/experiments/mv/status")"
}

t_nano_style_truncating_write_submits_once() {
    mkdir "$MNT/experiments/nano"
    printf 'command: echo a\nenvironment: host\n' > "$MNT/experiments/nano/job.yaml"
    python3 - "$MNT/experiments/nano/job.yaml" <<'P' || fail "write"
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
os.write(fd, b"command: echo b\n")
os.write(fd, b"environment: host\n")
os.fsync(fd)
os.close(fd)
P
    [ "$(runs_of nano)" = 2 ] || fail "$(runs_of nano) runs, expected 2"
}

mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_host_env host || { echo "0 passed, 1 failed"; exit 1; }
run_cases
