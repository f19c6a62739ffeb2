#!/usr/bin/env bash
# test_disk_full.sh: a workspace whose disk fills up. A job that exited 0 while its supervisor could not
# write how it ended was marked Failed once space returned, its log cut with no word: now the end is
# kept and written when it can be, the run ends Completed, and the log says output may be missing. Output
# lost while the job still ran is marked in the log once space returns.
. "$(dirname "$0")/../lib/e2e.sh"

SMALL=$T/small
test_cleanup() { mountpoint -q "$SMALL" && umount -l "$SMALL"; return 0; }

# The supervisor is waiting to try again: the job has ended and the supervisor sleeps (clock_nanosleep or
# nanosleep) instead of waiting on the job (poll).
retrying() { # SUPERVISOR-PID
    local call
    call=$(cut -d' ' -f1 "/proc/$1/syscall" 2>/dev/null) || return 1
    [ "$call" = 230 ] || [ "$call" = 35 ]
}

t_a_job_that_ends_on_a_full_disk_is_recorded_when_space_returns() {
    mkdir "$MNT/experiments/fill"
    id=$(printf 'command: echo start; dd if=/dev/zero of=fill bs=64k 2>/dev/null; echo lost; touch %s/ended; exit 0\nenvironment: host\n' "$T" |
        submit fill) || fail "submit: $(cat "$MNT/experiments/fill/status")"
    wait_for 60 test -e "$T/ended" || fail "the job did not end: $(cat "$MNT/runs/$id/status")"
    sup=$(cut -d' ' -f1 "$DATA/runs/$id/supervisor.pid")
    wait_for 20 retrying "$sup" || fail "the supervisor is not retrying: $(cat /proc/$sup/syscall 2>&1) $(cat "$DATA/runs/$id/supervisor.log" 2>&1 | tail -3)"
    [ ! -e "$DATA/runs/$id/exit.json" ] || fail "exit.json was written on a full disk?"
    rm -f "$DATA/runs/$id/work/fill"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status") $(cat "$MNT/runs/$id/info.json")"
    grep -qx start "$MNT/runs/$id/log" || fail "log: $(cat "$MNT/runs/$id/log")"
    tail -1 "$MNT/runs/$id/log" | grep -q "^\[amlfs\] the disk holding this run was full when the job ended" ||
        fail "no word of the cut: $(tail -3 "$MNT/runs/$id/log")"
}

# How often process $1 has gone to sleep and woken up (each wake-up of the supervisor is one look round).
wakeups() { awk '/^voluntary_ctxt_switches/ {print $2}' "/proc/$1/status" 2>/dev/null; }
woke_since() { [ "$(wakeups "$1")" -ge $(($2 + 3)) ]; }

# The disk filled while the job wrote its log and had room again while it went on: the log had a hole
# with no word. The supervisor looks at the disk while the job runs and, once there is room, says where.
t_output_lost_to_a_full_disk_mid_run_is_marked_in_the_log() {
    mkdir "$MNT/experiments/midrun"
    id=$(printf 'command: echo start; dd if=/dev/zero of=fill bs=64k 2>/dev/null; echo lost; touch %s/full; while [ ! -e %s/room ]; do sleep 0.05; done; echo after; exit 0\nenvironment: host\n' "$T" "$T" |
        submit midrun) || fail "submit: $(cat "$MNT/experiments/midrun/status")"
    wait_for 60 test -e "$T/full" || fail "the disk did not fill: $(cat "$MNT/runs/$id/status")"
    sup=$(cut -d' ' -f1 "$DATA/runs/$id/supervisor.pid")
    seen=$(wakeups "$sup")
    wait_for 20 woke_since "$sup" "$seen" || { rm -f "$DATA/runs/$id/work/fill"; touch "$T/room"; fail "the supervisor did not look"; }
    rm -f "$DATA/runs/$id/work/fill"
    wait_for 10 grep -q "^\[amlfs\] the disk holding this run was full from .* until " "$DATA/runs/$id/log" ||
        { touch "$T/room"; fail "no word of the cut while the job runs: $(cat "$DATA/runs/$id/log")"; }
    touch "$T/room"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status") $(cat "$MNT/runs/$id/info.json")"
    [ "$(head -1 "$MNT/runs/$id/log")" = start ] && [ "$(tail -1 "$MNT/runs/$id/log")" = after ] ||
        fail "log: $(cat "$MNT/runs/$id/log")"
    [ "$(grep -c '^\[amlfs\]' "$MNT/runs/$id/log")" = 1 ] || fail "not one marker: $(cat "$MNT/runs/$id/log")"
}

# A save refused because the disk is full left the previous "submitted ..." line: the store could not take
# the refusal either. The line is shown at once and stored when space returns.
t_a_save_refused_on_a_full_disk_says_so_in_status() {
    mkdir "$MNT/experiments/refused"
    printf 'command: echo fine\nenvironment: host\n' | submit refused >/dev/null || fail "first submission"
    dd if=/dev/zero of="$DATA/filler" bs=64k 2>/dev/null
    r=$(printf 'command: echo full\nenvironment: host\n' | write_spec "$MNT/experiments/refused/job.yaml")
    [ "$r" != OK ] || { rm -f "$DATA/filler"; fail "a submission on a full disk was accepted"; }
    grep -q "^Rejected: " "$MNT/experiments/refused/status" ||
        { rm -f "$DATA/filler"; fail "status after $r: $(cat "$MNT/experiments/refused/status")"; }
    rm -f "$DATA/filler"
    stored() { python3 -c 'import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute("select status_line from experiments where name=?",("refused",)).fetchone(); sys.exit(0 if r and r[0].startswith("Rejected: ") else 1)' "$DATA/workspace.db"; }
    wait_for 10 stored || fail "the refusal was never stored"
}

[ "$(id -u)" = 0 ] || { echo "skipped: a small tmpfs needs root"; echo "0 passed, 0 failed, 1 skipped"; exit 0; }
mkdir -p "$SMALL" && mount -t tmpfs -o size=16m tmpfs "$SMALL" || { echo "0 passed, 1 failed"; exit 1; }
DATA=$SMALL/data
mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_host_env host || { echo "0 passed, 1 failed"; exit 1; }
run_cases
