#!/usr/bin/env bash
# test_spec_saves.sh: exactly one action per finished save of a spec, and none nobody asked for: a refused
# save that an editor undoes (its backup put back), a spec written through a descriptor shared by several
# processes, job.yaml in subfolders, rsync of an unchanged job.yaml, and a project copied in under
# .amlfs-hold. Editors driven through a real terminal are in test_editors.sh.
. "$(dirname "$0")/../lib/e2e.sh"

runs_of() { ls "$MNT/experiments/$1/runs" 2>/dev/null | grep -vx latest | wc -l; }
good_job() { printf 'command: echo %s\nenvironment: host\n' "$1"; }
# A fresh experiment $1 with one submitted run of `echo first`.
exp_with_a_run() {
    mkdir "$MNT/experiments/$1" || return 1
    good_job first > "$MNT/experiments/$1/job.yaml"
    [ "$(runs_of "$1")" = 1 ] || fail "setup: $(runs_of "$1") runs"
}

# vim's default writebackup (backupcopy=auto copies here): the file is written in place, the close is
# refused, and vim writes its backup back into job.yaml. That restore is no new save.
t_vim_writebackup_restore_after_a_refused_save_is_not_submitted() {
    exp_with_a_run vwb
    (cd "$MNT/experiments/vwb" && timeout 20 vim -es -N -u NONE -i NONE -c 'set writebackup nobackup backupskip=' \
        -c '1s/^/inputs: [oops\r/' -c 'wq' job.yaml)
    [ "$(runs_of vwb)" = 1 ] || fail "$(runs_of vwb) runs: the restored old text was submitted"
    grep -q '^Rejected: job.yaml line 2' "$MNT/experiments/vwb/status" || fail "status: $(cat "$MNT/experiments/vwb/status")"
    grep -q 'echo first' "$MNT/experiments/vwb/job.yaml" || fail "job.yaml: $(cat "$MNT/experiments/vwb/job.yaml")"
}

# vim with backupcopy=no renames job.yaml to job.yaml~, writes anew, and renames the backup back.
t_vim_rename_backup_restore_after_a_refused_save_is_not_submitted() {
    exp_with_a_run vbn
    (cd "$MNT/experiments/vbn" && timeout 20 vim -es -N -u NONE -i NONE -c 'set backup backupcopy=no backupskip=' \
        -c '1s/^/inputs: [oops\r/' -c 'wq' job.yaml)
    [ "$(runs_of vbn)" = 1 ] || fail "$(runs_of vbn) runs: the renamed-back old text was submitted"
    grep -q '^Rejected: job.yaml line 2' "$MNT/experiments/vbn/status" || fail "status: $(cat "$MNT/experiments/vbn/status")"
    # The next good save goes through as usual.
    (cd "$MNT/experiments/vbn" && timeout 20 vim -es -N -u NONE -i NONE -c 'set backup backupcopy=no backupskip=' \
        -c '1s/first/second/' -c 'wq' job.yaml) || fail "vim's good save failed"
    [ "$(runs_of vbn)" = 2 ] || fail "after a good save: $(runs_of vbn) runs"
}

t_refused_environment_save_restored_by_vim_registers_no_version() {
    mkdir "$MNT/environments/envr"
    printf 'name: envr\ndescription: one\n' > "$MNT/environments/envr/environment.yaml"
    [ -d "$MNT/environments/envr/versions/1" ] || fail "setup: no version 1"
    (cd "$MNT/environments/envr" && timeout 20 vim -es -N -u NONE -i NONE -c 'set writebackup nobackup backupskip=' \
        -c '1s/^/image_registry: [oops\r/' -c 'wq' environment.yaml)
    [ "$(ls "$MNT/environments/envr/versions" | wc -l)" = 1 ] || fail "versions: $(ls "$MNT/environments/envr/versions")"
    grep -q '^Rejected: ' "$MNT/environments/envr/status" || fail "status: $(cat "$MNT/environments/envr/status")"
}

# The guard is for the program that was refused, putting back what was there: another program saving
# the old text again is a save like any other.
t_old_text_saved_again_by_another_program_is_submitted() {
    exp_with_a_run again
    [ "$(printf 'inputs: [oops\n' | write_spec "$MNT/experiments/again/job.yaml")" = EINVAL ] || fail "not refused"
    good_job first | python3 -c 'import sys; open(sys.argv[1], "w").write(sys.stdin.read())' "$MNT/experiments/again/job.yaml"
    [ "$(runs_of again)" = 2 ] || fail "$(runs_of again) runs, expected 2"
}

# `{ cat base; echo more; } > job.yaml`: one open file shared by the shell and cat, closed by each.
t_spec_written_through_a_shared_descriptor_is_acted_on_once_whole() {
    mkdir "$MNT/experiments/shared"
    good_job base > "$T/base.yaml"
    (cd "$MNT/experiments/shared" && { cat "$T/base.yaml"; echo "limits: {timeout: 60}"; } > job.yaml)
    [ "$(runs_of shared)" = 1 ] || fail "$(runs_of shared) runs, expected 1"
    id=$(readlink "$MNT/experiments/shared/runs/latest"); id=${id##*/}
    grep -q 'timeout: 60' "$MNT/runs/$id/job.yaml" || fail "the run lacks the limit: $(cat "$MNT/runs/$id/job.yaml")"
    # The same on an existing job.yaml (the shell's O_TRUNC is no separate empty save).
    (cd "$MNT/experiments/shared" && { cat "$T/base.yaml"; echo "limits: {timeout: 61}"; } > job.yaml)
    [ "$(runs_of shared)" = 2 ] || fail "$(runs_of shared) runs, expected 2"
    grep -q '^submitted ' "$MNT/experiments/shared/status" || fail "status: $(cat "$MNT/experiments/shared/status")"
}

t_a_single_writer_still_sees_the_refusal_at_close() {
    mkdir "$MNT/experiments/single"
    r=$(printf 'command: [\n' | write_spec "$MNT/experiments/single/job.yaml")
    [ "$r" = EINVAL ] || fail "close gave $r"
    # cp reports it too (its close fails), and exits 1.
    printf 'command: echo x\nenvironment: nosuchenv\n' > "$T/bad.yaml"
    if cp "$T/bad.yaml" "$MNT/experiments/single/job.yaml" 2>"$T/cp.err"; then fail "cp succeeded"; fi
    grep -q "No such file or directory" "$T/cp.err" || fail "cp said: $(cat "$T/cp.err")"
}

# A repo with configs/x/job.yaml or k8s/job.yaml: code, not submissions.
t_job_yaml_in_a_subfolder_is_ordinary_code() {
    mkdir -p "$T/repo/configs/x" "$T/repo/k8s"
    good_job nested > "$T/repo/configs/x/job.yaml"
    printf 'apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\n' > "$T/repo/k8s/job.yaml"
    echo 'print(1)' > "$T/repo/train.py"
    mkdir "$MNT/experiments/nested"
    cp -r "$T/repo/." "$MNT/experiments/nested/" || fail "cp -r failed"
    [ "$(runs_of nested)" = 0 ] || fail "$(runs_of nested) runs from nested job.yaml files"
    [ ! -s "$MNT/experiments/nested/status" ] || fail "status: $(cat "$MNT/experiments/nested/status")"
    cmp "$T/repo/k8s/job.yaml" "$MNT/experiments/nested/k8s/job.yaml" || fail "k8s/job.yaml not kept"
}

# rsync -a compares sizes and times: with times kept, an unchanged job.yaml is not sent, so not submitted.
t_rsync_of_an_unchanged_job_yaml_submits_nothing() {
    mkdir -p "$T/proj" "$MNT/experiments/rs"
    good_job synced > "$T/proj/job.yaml"
    echo 'print(2)' > "$T/proj/train.py"
    touch -d '2020-01-02 03:04:05' "$T/proj/job.yaml" "$T/proj/train.py" # written a while ago
    rsync -a "$T/proj/" "$MNT/experiments/rs/" || fail "first rsync"
    [ "$(runs_of rs)" = 1 ] || fail "first rsync: $(runs_of rs) runs"
    rsync -a "$T/proj/" "$MNT/experiments/rs/" || fail "second rsync"
    [ "$(runs_of rs)" = 1 ] || fail "an unchanged job.yaml submitted again: $(runs_of rs) runs"
}

# cp -r copies in directory order: job.yaml may come before the code. Under .amlfs-hold it waits.
t_project_copied_under_amlfs_hold_runs_once_with_all_its_code() {
    mkdir "$MNT/experiments/held"
    touch "$MNT/experiments/held/.amlfs-hold"
    printf 'command: cat data.txt\nenvironment: host\n' > "$MNT/experiments/held/job.yaml" # first, as cp may
    echo "all the code" > "$MNT/experiments/held/data.txt"
    [ "$(runs_of held)" = 0 ] || fail "submitted while held"
    rm "$MNT/experiments/held/.amlfs-hold" || fail "rm of the hold"
    [ "$(runs_of held)" = 1 ] || fail "$(runs_of held) runs after the hold went"
    id=$(readlink "$MNT/experiments/held/runs/latest"); id=${id##*/}
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "run: $(cat "$MNT/runs/$id/status")"
    grep -qx "all the code" "$MNT/runs/$id/log" || fail "log: $(cat "$MNT/runs/$id/log")"
    # Without a save during the hold, removing it does nothing.
    touch "$MNT/experiments/held/.amlfs-hold" && rm "$MNT/experiments/held/.amlfs-hold"
    [ "$(runs_of held)" = 1 ] || fail "a hold without a save submitted"
}

# Two programs saving one job.yaml at once (`cat a > job.yaml` and `cat b > job.yaml` in two shells): each
# complete text runs once, and no run gets a mix. Interleaved on purpose (A writes half, B opens with
# O_TRUNC, writes all and closes, A finishes), then raced by two cats a few times.
race_text() { # race_text LETTER: a job whose command and long description carry LETTER only
    printf 'command: echo %s\nenvironment: host\ndescription: ' "$1"
    head -c 300000 /dev/zero | tr '\0' "$1"
    printf '\n'
}
# The letters of each run's spec in experiment $1 (one line per run: e.g. "a a" for command and description).
race_runs() {
    local l id
    for l in "$MNT/experiments/$1/runs/"*; do
        [ "${l##*/}" = latest ] && continue
        id=$(readlink "$l"); id=${id##*/}
        python3 - "$MNT/runs/$id/job.yaml" <<'P'
import re, sys
t = open(sys.argv[1]).read()
cmd = re.search(r"^command: echo (\S+)$", t, re.M)
desc = re.search(r"^description: (\S+)$", t, re.M)
d = desc.group(1) if desc else ""
print(cmd.group(1) if cmd else "?", "none" if not d else d[0] if len(set(d)) == 1 and len(d) == 300000 else "mixed")
P
    done | sort
}
t_two_writers_of_one_job_yaml_at_once_run_each_complete_text_once() {
    mkdir "$MNT/experiments/race"
    race_text a > "$T/a.yaml"; race_text b > "$T/b.yaml"
    good_job first > "$MNT/experiments/race/job.yaml"
    python3 - "$MNT/experiments/race/job.yaml" "$T/a.yaml" "$T/b.yaml" <<'P' || fail "interleaved writers"
import os, sys
spec, a, b = sys.argv[1], open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read()
fa = os.open(spec, os.O_WRONLY | os.O_TRUNC)
os.write(fa, a[:len(a) // 2])
fb = os.open(spec, os.O_WRONLY | os.O_TRUNC)
os.write(fb, b)
os.close(fb)
os.write(fa, a[len(a) // 2:])
os.close(fa)
P
    got=$(race_runs race | tr '\n' ,)
    [ "$got" = "a a,b b,first none," ] || fail "runs (command, description): $got"
    for round in 1 2 3 4 5; do
        cat "$T/a.yaml" > "$MNT/experiments/race/job.yaml" & pa=$!
        cat "$T/b.yaml" > "$MNT/experiments/race/job.yaml" & pb=$!
        wait "$pa" "$pb"
    done
    got=$(race_runs race | uniq -c | awk '{print $1, $2, $3}' | tr '\n' ,)
    [ "$got" = "6 a a,6 b b,1 first none," ] || fail "after racing cats: $got"
}

# Four shells saving one job.yaml five times each: every save whose close() succeeded runs once, with its
# text. The server's snapshot of the folder met another shell's save replacing job.yaml and refused the
# run after the close had succeeded (1 to 2 of 20 lost in 3 of 5 rounds); it walks the folder again now.
t_four_shells_saving_one_job_yaml_lose_no_acknowledged_save() {
    local round s i
    for round in 1 2 3; do
        mkdir "$MNT/experiments/shells$round"
        for s in 1 2 3 4; do
            (for i in 1 2 3 4 5; do
                printf 'command: echo text-%s-%s\nenvironment: host\n' "$s" "$i" > "$MNT/experiments/shells$round/job.yaml" 2>/dev/null &&
                    echo "text-$s-$i" >> "$T/acked$round"
            done) &
        done
        wait
        ran() { [ "$(cat "$MNT"/runs/shells${round}_*/log 2>/dev/null | wc -l)" -ge "$(wc -l < "$T/acked$round")" ]; }
        wait_for 60 ran || true
        sort "$T/acked$round" > "$T/acked$round.sorted"
        cat "$MNT"/runs/shells${round}_*/log 2>/dev/null | sort > "$T/ran$round"
        cmp -s "$T/acked$round.sorted" "$T/ran$round" ||
            fail "round $round: acknowledged but not run once: $(comm -3 "$T/acked$round.sorted" "$T/ran$round" | tr -s '\t\n' ' ')"
    done
}

# The hold is a file the server keeps, and it says what it held: unmounted and mounted again between the
# copy and the rm (or removed through another mount), the held job.yaml still runs once, on everything.
t_amlfs_hold_survives_an_unmount_and_a_remount() {
    mkdir "$MNT/experiments/heldre"
    touch "$MNT/experiments/heldre/.amlfs-hold"
    printf 'command: cat data.txt\nenvironment: host\n' > "$MNT/experiments/heldre/job.yaml"
    echo "copied before the remount" > "$MNT/experiments/heldre/data.txt"
    [ "$(runs_of heldre)" = 0 ] || fail "submitted while held"
    fusermount3 -u "$MNT" || fail "unmount"
    "$AMLFS" --data-dir "$DATA" "$MNT" && wait_for 10 test -f "$MNT/workspace.json" || fail "mount again"
    [ -e "$MNT/experiments/heldre/.amlfs-hold" ] || fail "the hold is gone after the remount"
    [ "$(runs_of heldre)" = 0 ] || fail "the remount submitted"
    rm "$MNT/experiments/heldre/.amlfs-hold" || fail "rm of the hold"
    [ "$(runs_of heldre)" = 1 ] || fail "$(runs_of heldre) runs after the hold went"
    id=$(readlink "$MNT/experiments/heldre/runs/latest"); id=${id##*/}
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "run: $(cat "$MNT/runs/$id/status")"
    grep -qx "copied before the remount" "$MNT/runs/$id/log" || fail "log: $(cat "$MNT/runs/$id/log")"
    # A hold that held nothing acts on nothing after a remount either.
    touch "$MNT/experiments/heldre/.amlfs-hold"
    fusermount3 -u "$MNT" && "$AMLFS" --data-dir "$DATA" "$MNT" && wait_for 10 test -f "$MNT/workspace.json" ||
        fail "mount again"
    rm "$MNT/experiments/heldre/.amlfs-hold" && [ "$(runs_of heldre)" = 1 ] || fail "an empty hold submitted"
}

mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_host_env host || { echo "0 passed, 1 failed"; exit 1; }
run_cases
