#!/usr/bin/env bash
# test_harness.sh: the e2e helpers themselves: every process a case starts is ended by its pid when the
# case ends, passed or failed, so no server outlives its test holding a data folder's lock.
. "$(dirname "$0")/../lib/e2e.sh"

# Runs a small test file of its own (its cases fail on purpose) and looks at what it left running.
inner() {
    cat > "$T/inner.sh" <<INNER
. "$ROOT/tests/lib/e2e.sh"
st() { sed 's/.*) //' "/proc/\$1/stat" | awk '{print \$20}'; }
t_1_a_failing_case_with_a_foreground_server() {
    "\$AMLFS_SERVER" --foreground --data-dir "\$T/plain" >/dev/null 2>&1 &
    spawned \$!
    echo "\$! \$(st \$!)" > "$T/fg.pid"
    wait_for 10 test -S "\$T/plain/server.sock"
    fail "on purpose"
}
t_2_a_failing_case_with_a_server_that_went_to_the_background() {
    "\$AMLFS_SERVER" --data-dir "\$T/daemon" >/dev/null 2>&1
    p=\$(cat "\$T/daemon/server.pid")
    echo "\$p \$(st \$p)" > "$T/bg.pid"
    fail "on purpose"
}
t_3_a_passing_case_with_a_process_it_did_not_wait_for() {
    sleep 300 &
    spawned \$!
    echo "\$! \$(st \$!)" > "$T/sleep.pid"
}
run_cases
INNER
    timeout 120 bash "$T/inner.sh" > "$T/inner.out" 2>&1
}

left_running() { # FILE with "pid start": is that very process still there?
    local pid start
    read -r pid start < "$1" || return 1
    [ -n "$start" ] && [ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $20}')" = "$start" ]
}

t_processes_a_case_started_are_ended_when_it_ends_even_on_failure() {
    inner
    grep -q "^1 passed, 2 failed" "$T/inner.out" || fail "inner run: $(cat "$T/inner.out")"
    for f in fg bg sleep; do
        [ -s "$T/$f.pid" ] || fail "no $f pid: $(cat "$T/inner.out")"
        if left_running "$T/$f.pid"; then
            read -r pid _ < "$T/$f.pid"
            what=$(tr '\0' ' ' < "/proc/$pid/cmdline")
            kill "$pid"
            fail "the $f process outlived its test: $what"
        fi
    done
}

run_cases
