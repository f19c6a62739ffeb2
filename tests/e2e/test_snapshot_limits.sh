#!/usr/bin/env bash
# test_snapshot_limits.sh: snapshot limits set per workspace (amlfs-server --snapshot-max-mb/-files,
# kept across restarts, shown in workspace.json) and per job (az ml `properties`), on a real mount.
. "$(dirname "$0")/../lib/e2e.sh"

api() { curl -sS --unix-socket "$DATA/server.sock" "$@"; }

limits() { # "MAX_MB MAX_FILES" as the workspace says
    api http://localhost/v1/workspace | python3 -c '
import json, sys
l = json.load(sys.stdin)["snapshot_limits"]
print(l["max_mb"], l["max_files"])'
}

t_workspace_limits_are_shown_and_checked() {
    [ "$(limits)" = "1 3" ] || fail "workspace limits: $(limits)"
    grep -q '"max_files": 3' "$MNT/workspace.json" || fail "workspace.json: $(cat "$MNT/workspace.json")"
    local proj=$T/many got
    mkdir -p "$proj/src"
    for f in a.py src/b.py src/c.py src/d.py src/e.py; do echo "print('$f')" > "$proj/$f"; done
    mkdir "$MNT/experiments/many"
    got=$(printf 'command: python3 a.py\ncode: %s\nenvironment: limhost\n' "$proj" |
        write_spec "$MNT/experiments/many/job.yaml")
    [ "$got" = EFBIG ] || fail "close() gave $got, expected EFBIG"
    grep -q "code folder $proj has 5 files (.*), over the 3-file limit: most: src/ 4 files, a.py 1 file; add \`src/\` to .amlignore" \
        "$MNT/experiments/many/status" || fail "status: $(cat "$MNT/experiments/many/status")"
}

t_a_job_raises_its_own_limit_with_properties() {
    local proj=$T/raised id
    mkdir -p "$proj"
    for i in 1 2 3 4 5 6; do echo "$i" > "$proj/f$i.txt"; done
    mkdir "$MNT/experiments/raised"
    id=$(printf 'command: cat f6.txt\ncode: %s\nenvironment: limhost\nproperties:\n  amlfs.snapshot_max_files: "10"\n' "$proj" |
        submit raised) || fail "with a raised limit: $(cat "$MNT/experiments/raised/status")"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "run: $(cat "$MNT/runs/$id/status")"
    grep -qx 6 "$MNT/runs/$id/log" || fail "log: $(cat "$MNT/runs/$id/log")"
    # Properties that are not ours pass through; ours are checked, typos named.
    printf 'command: true\ncode: %s\nenvironment: limhost\nproperties:\n  amlfs.snapshot_max_file: "10"\n' "$proj" |
        write_spec "$MNT/experiments/raised/job.yaml" | grep -qx EINVAL || fail "a typo was accepted"
    grep -q "line 5 column .*unknown amlfs property 'amlfs.snapshot_max_file' (did you mean 'amlfs.snapshot_max_files'?)" \
        "$MNT/experiments/raised/status" || fail "status: $(cat "$MNT/experiments/raised/status")"
    printf 'command: true\ncode: %s\nenvironment: limhost\nproperties:\n  amlfs.snapshot_max_mb: lots\n' "$proj" |
        write_spec "$MNT/experiments/raised/job.yaml" | grep -qx EINVAL || fail "'lots' was accepted"
    printf 'command: true\ncode: %s\nenvironment: limhost\nproperties:\n  team: vision\n  amlfs.snapshot_max_files: 10\n' "$proj" |
        submit raised >/dev/null || fail "a free-form property: $(cat "$MNT/experiments/raised/status")"
}

t_the_experiments_own_code_keeps_the_workspace_limit() {
    local got
    mkdir "$MNT/experiments/own"
    head -c 1500000 /dev/urandom > "$MNT/experiments/own/weights.bin"
    got=$(printf 'command: true\nenvironment: limhost\n' | write_spec "$MNT/experiments/own/job.yaml")
    [ "$got" = EFBIG ] || fail "close() gave $got, expected EFBIG"
    grep -q '^Rejected: job.yaml: code folder is 1.4 MB in 2 files, over the 1 MB limit: largest: weights.bin 1.4 MB' \
        "$MNT/experiments/own/status" || fail "status: $(cat "$MNT/experiments/own/status")"
}

t_workspace_limits_are_kept_across_restarts() {
    stop_server
    "$AMLFS_SERVER" --data-dir "$DATA" || fail "restart without flags"
    wait_for 10 test -S "$DATA/server.sock" || fail "no socket"
    [ "$(limits)" = "1 3" ] || fail "after a restart without flags: $(limits)"
    "$AMLFS_SERVER" --snapshot-max-mb 0 --data-dir "$T/other" 2>"$T/err" && fail "--snapshot-max-mb 0 accepted"
    grep -q "snapshot-max-mb 0: expected a whole number from 1" "$T/err" || fail "message: $(cat "$T/err")"
}

# The workspace's server, started with its limits before the mount (which then uses it).
"$AMLFS_SERVER" --data-dir "$DATA" --snapshot-max-mb 1 --snapshot-max-files 3 ||
    { echo "amlfs-server did not start"; echo "0 passed, 1 failed"; exit 1; }
mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_host_env limhost && wait_status 10 "$MNT/environments/limhost/status" Ready ||
    { echo "environment not ready"; echo "0 passed, 1 failed"; exit 1; }
run_cases
