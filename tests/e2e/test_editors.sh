#!/usr/bin/env bash
# test_editors.sh: saving job.yaml the ways editors do submits exactly one run per save, a refused save
# submits nothing (also when the editor puts its backup back), keeps the refusal in `status` and the
# text in the editor's buffer; scratch files (swap files, backups, 4913, locks) are plain files. vim,
# nano and emacs run in a real terminal (tmux), typed at with send-keys.
E2E_ROOT=/var/tmp # under /tmp vim (backupskip) and emacs make no backups
. "$(dirname "$0")/../lib/e2e.sh"

TMUX_SOCKET=amlfs-e2e-$$
tm() { tmux -L "$TMUX_SOCKET" "$@"; }
# Our own tmux server only (its socket is ours): it ends every editor this test started.
test_cleanup() { tmux -L "$TMUX_SOCKET" kill-server 2>/dev/null || true; }

runs_of() { ls "$MNT/experiments/$1/runs" 2>/dev/null | grep -vx latest | wc -l; }
_pane_has() { tm capture-pane -p -t "$1" | grep -qF -- "$2"; }
pane_has() { wait_for 20 _pane_has "$1" "$2"; }
_gone() { ! tm has-session -t "$1" 2>/dev/null; }
# editor SESSION DIR CMD...: start CMD in a terminal of its own, in DIR.
editor() {
    local s=$1 dir=$2
    shift 2
    tm new-session -d -s "$s" -x 160 -y 40 -c "$dir" "$*" || fail "tmux could not start $*"
}
keys() { tm send-keys -t "$1" "${@:2}"; }
text() { tm send-keys -t "$1" -l "$2"; }
ended() { wait_for 20 _gone "$1" || { tm capture-pane -p -t "$1" | tail -5; fail "$1 did not exit"; }; }

# An experiment with job.yaml `echo first` submitted once.
exp_with_a_run() {
    mkdir "$MNT/experiments/$1" || fail "mkdir"
    printf 'command: echo first\nenvironment: host\n' > "$MNT/experiments/$1/job.yaml"
    [ "$(runs_of "$1")" = 1 ] || fail "setup: $(runs_of "$1") runs"
}
refused_and_nothing_run() { # EXP: the save was refused, nothing was submitted, status says why
    [ "$(runs_of "$1")" = 1 ] || fail "a refused save left $(runs_of "$1") runs"
    grep -q '^Rejected: job.yaml line' "$MNT/experiments/$1/status" || fail "status: $(cat "$MNT/experiments/$1/status")"
}
one_more_run_with() { # EXP TEXT: the save submitted exactly one run, of the text saved
    [ "$(runs_of "$1")" = 2 ] || fail "a save left $(runs_of "$1") runs, expected 2"
    grep -q '^submitted ' "$MNT/experiments/$1/status" || fail "status: $(cat "$MNT/experiments/$1/status")"
    id=$(readlink "$MNT/experiments/$1/runs/latest"); id=${id##*/}
    grep -q "$2" "$MNT/runs/$id/job.yaml" || fail "the run's job.yaml: $(cat "$MNT/runs/$id/job.yaml")"
}

# vim with OPTS: a refused save (E512), its buffer written elsewhere to show it kept the text; then a
# good save.
vim_case() {
    local exp=$1 opts=$2 s=vim-$1
    exp_with_a_run "$exp"
    editor "$s" "$MNT/experiments/$exp" vim -u DEFAULTS -i NONE -c "'$opts'" job.yaml
    pane_has "$s" '"job.yaml"' || fail "vim did not open job.yaml"
    keys "$s" g g O; text "$s" 'inputs: [oops'; keys "$s" Escape; text "$s" ':w'; keys "$s" Enter
    pane_has "$s" E512 || { tm capture-pane -p -t "$s" | tail -3; fail "vim did not say E512"; }
    refused_and_nothing_run "$exp"
    text "$s" ":w! $T/$exp-buffer.yaml"; keys "$s" Enter
    wait_for 10 grep -q 'inputs: \[oops' "$T/$exp-buffer.yaml" || fail "vim's buffer lost the text"
    text "$s" ':1d'; keys "$s" Enter; text "$s" ':s/first/second/'; keys "$s" Enter
    text "$s" ':w!'; keys "$s" Enter
    pane_has "$s" 'written' || { tm capture-pane -p -t "$s" | tail -3; fail "vim's good save"; }
    text "$s" ':q'; keys "$s" Enter
    ended "$s"
    one_more_run_with "$exp" 'echo second'
}

t_vim_with_defaults_writebackup() { vim_case vimdef 'set writebackup nobackup'; }
t_vim_with_backup() { vim_case vimbak 'set backup'; }
t_vim_with_backup_by_rename() { vim_case vimren 'set backup backupcopy=no'; }
t_vim_without_any_backup() { vim_case vimnone 'set nobackup nowritebackup'; }

t_nano_refused_then_good_save() {
    local exp=nano s=nano
    exp_with_a_run $exp
    editor $s "$MNT/experiments/$exp" nano job.yaml
    pane_has $s 'command: echo first' || fail "nano did not open job.yaml"
    text $s 'inputs: [oops'; keys $s Enter
    keys $s C-o; pane_has $s 'File Name to Write' || fail "nano's prompt"; keys $s Enter
    pane_has $s 'Error writing' || { tm capture-pane -p -t $s | tail -3; fail "nano did not say Error writing"; }
    refused_and_nothing_run $exp
    _pane_has $s 'inputs: [oops' || fail "nano's buffer lost the text"
    keys $s Up C-k; text $s 'limits: {timeout: 77}'; keys $s Enter
    keys $s C-o; pane_has $s 'File Name to Write' || fail "nano's prompt"; keys $s Enter
    # When the refused write changed the file's time in another second than nano's own, nano asks before
    # writing over it (as after any failed write): the user answers yes.
    wrote_or_asked() { _pane_has "$1" 'Wrote' || _pane_has "$1" 'continue saving?'; }
    wait_for 20 wrote_or_asked $s || { tm capture-pane -p -t $s | tail -3; fail "nano's good save"; }
    _pane_has $s 'continue saving?' && keys $s y
    pane_has $s 'Wrote' || { tm capture-pane -p -t $s | tail -3; fail "nano's good save"; }
    keys $s C-x
    ended $s
    one_more_run_with $exp 'timeout: 77'
}

# emacs with backups (by renaming, as for a user who is not root: emacs copies instead for root) and
# lock files (.#job.yaml). A refused save renames job.yaml~ back: not a new save.
t_emacs_with_backups_and_lock_files() {
    local exp=emacs s=emacs
    exp_with_a_run $exp
    printf '(setq backup-by-copying-when-privileged-mismatch nil)\n' > "$T/init.el"
    editor $s "$MNT/experiments/$exp" emacs -nw -Q -l "$T/init.el" job.yaml
    pane_has $s 'command: echo first' || fail "emacs did not open job.yaml"
    keys $s M-'<'; text $s 'inputs: [oops'; keys $s Enter
    keys $s C-x C-s
    pane_has $s 'Write error' || { tm capture-pane -p -t $s | tail -3; fail "emacs did not say Write error"; }
    refused_and_nothing_run $exp
    _pane_has $s 'inputs: [oops' || fail "emacs's buffer lost the text"
    grep -q 'echo first' "$MNT/experiments/$exp/job.yaml" || fail "job.yaml: $(cat "$MNT/experiments/$exp/job.yaml")"
    keys $s M-'<' C-k C-k; text $s 'limits: {timeout: 78}'; keys $s Enter
    keys $s C-x C-s
    # The file is the old text again (emacs put its backup back), so emacs asks, as after any failed
    # write it undid: the user answers yes.
    pane_has $s 'Save anyway? (yes or no)' || { tm capture-pane -p -t $s | tail -3; fail "emacs did not ask"; }
    text $s 'yes'; keys $s Enter
    pane_has $s 'Wrote ' || { tm capture-pane -p -t $s | tail -3; fail "emacs's good save"; }
    [ -e "$MNT/experiments/$exp/job.yaml~" ] || fail "no backup: $(ls -A "$MNT/experiments/$exp")"
    keys $s C-x C-c
    ended $s
    one_more_run_with $exp 'timeout: 78'
    [ ! -L "$MNT/experiments/$exp/.#job.yaml" ] || fail "lock file left behind"
}

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
    mkdir "$MNT/experiments/nanostyle"
    printf 'command: echo a\nenvironment: host\n' > "$MNT/experiments/nanostyle/job.yaml"
    python3 - "$MNT/experiments/nanostyle/job.yaml" <<'P' || fail "write"
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
os.write(fd, b"command: echo b\n")
os.write(fd, b"environment: host\n")
os.fsync(fd)
os.close(fd)
P
    [ "$(runs_of nanostyle)" = 2 ] || fail "$(runs_of nanostyle) runs, expected 2"
}

mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_host_env host || { echo "0 passed, 1 failed"; exit 1; }
run_cases
