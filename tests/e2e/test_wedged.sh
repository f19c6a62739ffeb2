#!/usr/bin/env bash
# test_wedged.sh: a server that stops answering (SIGSTOP, a crash and a restart) hangs nobody: metadata within
# the deadline (the last answer while still true, else EIO), kill -9 and Ctrl-C free a blocked caller, big
# transfers are not cut, tail -f rides a restart, a close waiting for the server holds up no writer, and
# everything works again once the server is back.
. "$(dirname "$0")/../lib/e2e.sh"

DEADLINE=4                          # -o metadata_timeout
STALE=12                            # -o stale_timeout
BOUND=$((DEADLINE + 4))             # an answer's bound here: the deadline, and room for a loaded machine
MOUNT_OPTS=${WEDGED_MOUNT_OPTS--o metadata_timeout=$DEADLINE,stale_timeout=$STALE}
MNT2=$T/mnt2                        # a second mount of the same server, with a long deadline
MNT2_OPTS=${WEDGED_MNT2_OPTS--o metadata_timeout=120}

# Cases run in subshells: what they stop or start is recorded in files, so cleanup finds it even when a
# case fails halfway.
track() { echo "$1" >> "$T/pids"; }
pause_server() { server_pid > "$T/paused" && kill -STOP "$(cat "$T/paused")"; }
resume_server() {
    [ -s "$T/paused" ] && kill -CONT "$(cat "$T/paused")" 2>/dev/null
    rm -f "$T/paused"
}
unmount_second() { [ -e "$T/mnt2.mounted" ] && { fusermount3 -u "$MNT2" 2>/dev/null || fusermount3 -uz "$MNT2"; }; rm -f "$T/mnt2.mounted"; }
end_tracked() { [ -f "$T/pids" ] && while read -r p; do kill -9 "$p" 2>/dev/null; done < "$T/pids"; rm -f "$T/pids"; }
test_cleanup() { resume_server; end_tracked; unmount_second; }
case_cleanup() { end_tracked; resume_server; }

# Whether process $1 has ended (gone, or a zombie waiting for its parent).
gone() { [ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
# Whether process $1 is waiting for the mount's answer (the kernel's FUSE wait), or for another
# process's lookup of the same name (which waits for the mount).
waits_on_mount() { grep -q request_wait_answer "/proc/$1/wchan" 2>/dev/null; }
blocked_on_mount() { grep -qE 'request_wait_answer|d_alloc_parallel' "/proc/$1/wchan" 2>/dev/null; }

# within SECS CMD...: CMD must end within SECS; its exit status goes to $T/rc, its output to $T/out and
# $T/err. Returns 1 when it is still running at the deadline (the case's cleanup ends it).
within() {
    local secs=$1
    shift
    rm -f "$T/rc"
    ( "$@" > "$T/out" 2> "$T/err" & echo $! >> "$T/pids"; wait $!; echo $? > "$T/rc" ) &
    track $!
    wait_for "$secs" test -s "$T/rc"
}
rc() { cat "$T/rc"; }

# A finished run and a running one (the running one ends when $T/end-$1 exists).
finished_run() {
    local id
    id=$(printf 'command: echo finished\nenvironment: host\n' | submit w) || return 1
    wait_status 20 "$MNT/runs/$id/status" Completed || return 1
    echo "$id"
}
running_run() {
    local id
    id=$(printf 'command: echo started; while [ ! -e %s/end-%s ]; do sleep 0.1; done\nenvironment: host\n' "$T" "$1" |
        submit w) || return 1
    wait_status 20 "$MNT/runs/$id/status" Running || return 1
    echo "$id"
}

t_1_a_stopped_server_answers_stat_ls_cat_within_the_deadline() {
    trap 'case_cleanup; touch "$T/end-1"' EXIT
    done_id=$(finished_run) || fail "no finished run"
    run_id=$(running_run 1) || fail "no running run"
    # What the mount has seen, it may answer from while the server is away.
    ls "$MNT/experiments" > /dev/null && stat "$MNT/runs/$done_id/log" > /dev/null &&
        cat "$MNT/runs/$done_id/status" "$MNT/runs/$run_id/status" > /dev/null || fail "reading before the stop"
    pause_server || fail "SIGSTOP"
    # Never asked before: nothing to answer from, so EIO once the deadline passed (not 300 s later).
    within $BOUND cat "$MNT/runs/$done_id/params.json" || fail "cat of a file never read did not end within ${BOUND}s"
    [ "$(rc)" != 0 ] && grep -q "Input/output error" "$T/err" || fail "params.json: rc $(rc), $(cat "$T/out" "$T/err")"
    # By now the kernel's and the mount's short caches have lapsed: these come from the last answers.
    within $BOUND stat -c %s "$MNT/runs/$done_id/log" || fail "stat did not end within ${BOUND}s"
    [ "$(rc)" = 0 ] && [ "$(cat "$T/out")" = 9 ] || fail "stat of a finished run's log: rc $(rc), $(cat "$T/out" "$T/err")"
    within $BOUND ls "$MNT/experiments" || fail "ls did not end within ${BOUND}s"
    [ "$(rc)" = 0 ] && grep -qx w "$T/out" || fail "ls: rc $(rc), $(cat "$T/out" "$T/err")"
    within $BOUND cat "$MNT/runs/$done_id/status" || fail "cat status did not end within ${BOUND}s"
    [ "$(cat "$T/out")" = Completed ] || fail "a finished run's status: rc $(rc), $(cat "$T/out" "$T/err")"
    within $BOUND cat "$MNT/runs/$run_id/status" || fail "cat status of a running run did not end within ${BOUND}s"
    [ "$(cat "$T/out")" = Running ] || fail "a running run's last status (within stale_timeout): $(cat "$T/out" "$T/err")"
    # A running run's answers are stale: given for stale_timeout, EIO after; a finished run's stay true.
    status_fails() { ! cat "$MNT/runs/$run_id/status"; }
    wait_for $((STALE + BOUND)) status_fails || fail "a running run's status was still served after stale_timeout"
    [ "$(cat "$MNT/runs/$done_id/status")" = Completed ] || fail "a finished run's status after stale_timeout"
    stat "$MNT/runs/$done_id/log" > /dev/null || fail "a finished run's log after stale_timeout"
    resume_server
    wait_for 15 cat "$MNT/runs/$done_id/params.json" || fail "params.json after SIGCONT: $(cat "$MNT/runs/$done_id/params.json" 2>&1)"
    [ "$(cat "$MNT/runs/$run_id/status")" = Running ] || fail "status after SIGCONT: $(cat "$MNT/runs/$run_id/status" 2>&1)"
    touch "$T/end-1"
    wait_status 20 "$MNT/runs/$run_id/status" Completed || fail "the run did not end after SIGCONT"
}

t_2_a_caller_blocked_on_a_stopped_server_ends_on_kill_9_and_ctrl_c() {
    trap 'case_cleanup' EXIT
    done_id=$(finished_run) || fail "no finished run"
    mkdir -p "$MNT2"
    # shellcheck disable=SC2086 # MNT2_OPTS is words
    "$AMLFS" --data-dir "$DATA" $MNT2_OPTS "$MNT2" || fail "second mount"
    touch "$T/mnt2.mounted"
    wait_for 10 test -f "$MNT2/workspace.json" || fail "second mount not answering"
    pause_server || fail "SIGSTOP"
    # Twelve callers at once, each in a folder of its own (the kernel lets one lookup at a time into a
    # folder): more than libfuse's 10 workers, and an interrupt needs a free one to be read.
    local callers="" p
    for d in environments computes data datastores experiments runs; do
        ls "$MNT2/$d" > /dev/null 2>&1 &
        callers="$callers $!"
        cat "$MNT2/$d/status" > /dev/null 2>&1 &
        callers="$callers $!"
    done
    for p in $callers; do track "$p"; done
    all_wait() { for p in $callers; do blocked_on_mount "$p" || return 1; done; }
    wait_for 10 all_wait ||
        fail "not all callers wait on the mount: $(for p in $callers; do blocked_on_mount $p || echo "$p $(awk '{print $3}' /proc/$p/stat) $(cat /proc/$p/wchan) $(head -3 /proc/$p/stack | tr '\n' ' ')"; done)"
    kill -9 $callers
    all_gone() { for p in $callers; do gone "$p" || return 1; done; }
    wait_for 3 all_gone || fail "callers still there 3 s after kill -9: $(for p in $callers; do gone $p || echo "$p $(awk '{print $3}' /proc/$p/stat)"; done)"
    # Ctrl-C of a program that handles it (Python): the call fails with EINTR and the handler runs. (A
    # background job of a script starts with SIGINT ignored: Python's handler is put back first.)
    python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); os.stat(sys.argv[1])' \
        "$MNT2/runs/$done_id/job.yaml" > /dev/null 2> "$T/py.err" &
    local py=$!
    track $py
    wait_for 10 waits_on_mount $py || fail "python is not waiting on the mount: $(cat /proc/$py/wchan 2>&1)"
    kill -INT $py
    wait_for 3 gone $py || fail "python still there 3 s after Ctrl-C (state $(awk '{print $3}' /proc/$py/stat))"
    wait $py
    grep -q KeyboardInterrupt "$T/py.err" || fail "python did not see its Ctrl-C: $(cat "$T/py.err")"
    resume_server
    [ "$(cat "$MNT2/runs/$done_id/status")" = Completed ] || fail "the second mount after SIGCONT"
    unmount_second
}

t_3_big_transfers_are_not_cut_by_the_deadline() {
    trap 'case_cleanup' EXIT
    # An upload (the PUT of close) that the server leaves unanswered for longer than the deadline.
    head -c $((200 * 1024 * 1024)) /dev/urandom > "$T/big" || fail "making the file"
    # A copy that says when it has written everything: what it waits for next is its close().
    python3 -c '
import os, sys
src = open(sys.argv[1], "rb")
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for block in iter(lambda: src.read(1 << 20), b""):
    view = memoryview(block)
    while view:
        view = view[os.write(fd, view):]
open(sys.argv[3], "w").close()
os.close(fd)
' "$T/big" "$MNT/experiments/w/big.bin" "$T/written" &
    local cp=$!
    track $cp
    in_close() { [ -e "$T/written" ] && waits_on_mount $cp; }
    wait_for 60 in_close || fail "the copy never waited for its close() on the mount"
    pause_server || fail "SIGSTOP"
    # The stimulus: a silence mid-upload longer than the metadata deadline, and than a stall limit of that
    # deadline would allow (curl averages the speed over 5 s).
    sleep $((DEADLINE + 7))
    resume_server
    wait $cp || fail "the copy failed: the upload was cut"
    cmp "$T/big" "$MNT/experiments/w/big.bin" || fail "the stored file differs"
    rm -f "$MNT/experiments/w/big.bin" "$T/big"

    # A big output read while the server keeps stopping, each time for less than the deadline.
    id=$(printf 'command: head -c 67108864 /dev/urandom | tee outputs/big.bin > %s/big.out\nenvironment: host\n' "$T" |
        submit w) || fail "submit"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "the run: $(cat "$MNT/runs/$id/status")"
    (while [ ! -e "$T/stop-pausing" ]; do pause_server; sleep 1; resume_server; sleep 0.3; done) &
    local pauser=$!
    track $pauser
    local start=$SECONDS
    cmp "$T/big.out" "$MNT/runs/$id/outputs/big.bin" > "$T/cmp.out" 2>&1
    local cmp_rc=$?
    touch "$T/stop-pausing"
    wait $pauser
    resume_server
    [ $cmp_rc = 0 ] || fail "reading the output failed: $(cat "$T/cmp.out")"
    echo "read 64 MiB in $((SECONDS - start)) s with the server stopping every 1.3 s"
}

t_4_tail_f_rides_a_short_server_restart() {
    trap 'case_cleanup; touch "$T/end-4"' EXIT
    id=$(printf 'command: i=0; while [ ! -e %s/end-4 ]; do i=$((i+1)); echo "line $i"; sleep 0.2; done\nenvironment: host\n' "$T" |
        submit w) || fail "submit"
    tail -f "$MNT/runs/$id/log" > "$T/tail.out" 2> "$T/tail.err" &
    local tp=$!
    track $tp
    wait_for 10 grep -qx "line 3" "$T/tail.out" || fail "tail -f shows nothing: $(cat "$T/tail.err")"
    pid=$(server_pid)
    kill -9 "$pid" || fail "kill"
    wait_for 5 sh -c "! kill -0 $pid" || fail "server still alive"
    # Two seconds of lines while no server runs: tail asks the mount about the log meanwhile.
    n=$(wc -l < "$DATA/runs/$id/log")
    grown() { [ "$(wc -l < "$DATA/runs/$id/log")" -ge $((n + 10)) ]; }
    wait_for 10 grown || fail "the job stopped printing"
    kill -0 $tp || fail "tail -f exited while the server was away: $(cat "$T/tail.err")"
    "$AMLFS_SERVER" --data-dir "$DATA" || fail "restart"
    last=$(tail -n 1 "$DATA/runs/$id/log")
    wait_for 15 grep -qx "$last" "$T/tail.out" || fail "tail -f did not show '$last': $(tail -n 2 "$T/tail.out") $(cat "$T/tail.err")"
    kill -0 $tp || fail "tail -f exited: $(cat "$T/tail.err")"
    touch "$T/end-4"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status")"
    kill $tp
    [ ! -s "$T/tail.err" ] || fail "tail -f complained: $(cat "$T/tail.err")"
    grep '^line ' "$T/tail.out" | awk '$2 != NR { exit 1 }' || fail "lines missing or twice: $(tr '\n' ' ' < "$T/tail.out")"
}

# shellcheck disable=SC2086 # MOUNT_OPTS is words
# A close that waits for the server (its upload) holds up no writer of the same file: the lock of the
# file's buffer is let go while the bytes travel (only the next close waits, so closes land in order).
t_5_a_close_waiting_for_the_server_holds_up_no_writer() {
    trap 'case_cleanup' EXIT
    # The first writer writes, then closes once the server is stopped: its close waits on the upload.
    python3 -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"a" * (1 << 20))
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.01)
os.close(fd)
' "$MNT/experiments/w/shared.bin" "$T/first-written" "$T/first-close" &
    local first=$!
    track $first
    wait_for 30 test -e "$T/first-written" || fail "the first writer did not write"
    pause_server || fail "SIGSTOP"
    touch "$T/first-close"
    wait_for 30 waits_on_mount $first || fail "the first writer never waited for its close() on the mount"
    python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.pwrite(fd, b"X", 0)
open(sys.argv[2], "w").close()
os.close(fd)
' "$MNT/experiments/w/shared.bin" "$T/second-written" &
    local second=$!
    track $second
    wait_for $BOUND test -e "$T/second-written" || fail "a write waited for the first close's upload"
    resume_server
    wait $first || fail "the first close failed"
    wait $second || fail "the second close failed"
    [ "$(head -c 1 "$MNT/experiments/w/shared.bin")" = X ] || fail "the second write was lost"
    [ "$(stat -c %s "$MNT/experiments/w/shared.bin")" = $((1 << 20)) ] || fail "size $(stat -c %s "$MNT/experiments/w/shared.bin")"
    rm -f "$MNT/experiments/w/shared.bin"
}

mount_ws $MOUNT_OPTS || { echo "0 passed, 1 failed"; exit 1; }
make_host_env host && mkdir "$MNT/experiments/w" || { echo "0 passed, 1 failed"; exit 1; }
run_cases
