#!/usr/bin/env bash
# test_metadata.sh: browsing many runs asks the server little. `ls -l runs/` is the listing's pages, not
# a request per run (readdirplus hands each run's attributes to the kernel with its name); the status of
# every run comes from that listing; `find` asks about an ended run's folders once (GET /v1/runs/ID/tree);
# an ended run's answers are not asked again, and a finished output is read in 4 MiB blocks, and again
# from the page cache. Counted with workspace.json's "requests" (docs/api.md).
. "$(dirname "$0")/../lib/e2e.sh"

RUNS=40
requests() {
    curl -sS --unix-socket "$DATA/server.sock" http://localhost/v1/workspace |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["requests"])'
}
# How many requests the server took while "$@" ran (less the one that counts them); "$@"'s output goes
# to $T/out.
asked_during() {
    local before after
    before=$(requests) || return 1
    "$@" > "$T/out" || return 1
    after=$(requests) || return 1
    echo $((after - before - 1))
}
completed_runs() { cat "$MNT"/runs/*/status 2>/dev/null | grep -c '^Completed'; }
all_completed() { [ "$(completed_runs)" = "$RUNS" ]; }
remount() { unmount_ws && mount_ws || fail "remount"; }

mount_ws || exit 1
make_host_env host && mkdir "$MNT/experiments/many" || { echo "FAIL setup"; exit 1; }
for i in $(seq "$RUNS"); do
    printf 'command: mkdir -p outputs && head -c 2000000 /dev/urandom > outputs/data.bin\nenvironment: host\ndisplay_name: r%s\n' "$i" |
        submit many > /dev/null || { echo "FAIL setup: submission $i"; exit 1; }
done
not_completed() { # each run not Completed: ID STATUS, and its info.json's error
    local d
    for d in "$MNT"/runs/*/; do
        grep -q '^Completed' "$d/status" 2>/dev/null ||
            echo "$(basename "$d") $(cat "$d/status" 2>&1) $(grep -o '"error": *"[^"]*"' "$d/info.json" 2>/dev/null)"
    done
}
wait_for 120 all_completed || { echo "FAIL setup: $(completed_runs) of $RUNS runs completed: $(not_completed)"; exit 1; }

t_ls_l_of_runs_asks_for_the_listing_not_for_each_run() {
    remount
    local n
    n=$(asked_during ls -l "$MNT/runs/") || fail "ls -l failed"
    [ "$(grep -c '^d' "$T/out")" = "$RUNS" ] || fail "ls -l shows: $(cat "$T/out")"
    [ "$n" -le 5 ] || fail "ls -l of $RUNS runs took $n requests"
    n=$(asked_during ls -l "$MNT/runs/") || fail "ls -l failed"
    [ "$n" -le 3 ] || fail "ls -l again took $n requests"
}

t_status_of_every_run_comes_from_the_listing() {
    remount
    local n
    n=$(asked_during sh -c "cat '$MNT'/runs/*/status") || fail "cat failed"
    [ "$(grep -c '^Completed' "$T/out")" = "$RUNS" ] || fail "statuses: $(sort "$T/out" | uniq -c)"
    [ "$n" -le 5 ] || fail "cat runs/*/status of $RUNS runs took $n requests"
}

t_find_asks_about_each_ended_run_once() {
    remount
    local n
    n=$(asked_during find "$MNT/runs/") || fail "find failed"
    [ "$(grep -c '/outputs/data.bin$' "$T/out")" = "$RUNS" ] || fail "find shows: $(head -30 "$T/out")"
    [ "$n" -le $((RUNS + 5)) ] || fail "find of $RUNS runs took $n requests"
    # Again: nothing is asked (the mount's answers about ended runs and the kernel's listings of their
    # folders are kept).
    n=$(asked_during find "$MNT/runs/") || fail "find failed"
    [ "$(grep -c '/outputs/data.bin$' "$T/out")" = "$RUNS" ] || fail "find again shows: $(head -30 "$T/out")"
    [ "$n" -le 5 ] || fail "find again took $n requests"
}

t_run_links_of_an_experiment_come_with_their_attributes() {
    remount
    local n
    n=$(asked_during ls -l "$MNT/experiments/many/runs/") || fail "ls -l failed"
    [ "$(grep -c ' -> ../../../runs/' "$T/out")" -ge "$RUNS" ] || fail "links: $(cat "$T/out")"
    [ "$n" -le 6 ] || fail "ls -l of $RUNS run links took $n requests"
}

t_a_finished_output_is_read_in_blocks_and_again_from_the_page_cache() {
    remount
    local id n want
    id=$(readlink "$MNT/experiments/many/runs/latest") && id=${id##*/}
    want=$(md5sum < "$DATA/runs/$id/work/outputs/data.bin")
    # Looked up (the run, its tree, the file), then read in one request of the 4 MiB read-ahead block,
    # not in 256 KiB requests.
    n=$(asked_during sh -c "md5sum < '$MNT/runs/$id/outputs/data.bin'") || fail "first read failed"
    [ "$(cat "$T/out")" = "$want" ] || fail "first read differs"
    [ "$n" -le 6 ] || fail "reading a finished 2 MB output took $n requests"
    # Again, from the page cache. A change announced for the run in between (its end was announced
    # before; a late announcement, or events lost and everything dropped, is allowed) makes the kernel
    # read it once more: CI saw that once (11 requests: the open did not keep the cache). The read after
    # that must come from the cache.
    local again
    for again in second third; do
        n=$(asked_during sh -c "md5sum < '$MNT/runs/$id/outputs/data.bin'") || fail "$again read failed"
        [ "$(cat "$T/out")" = "$want" ] || fail "$again read differs"
        [ "$n" -le 1 ] && return 0
        echo "  note: the $again read took $n requests" >&2
    done
    fail "reading the finished output again took $n requests, twice"
}

run_cases
