#!/usr/bin/env bash
# test_snapshot_limits.sh: snapshot limits set per workspace (amlfs-server --snapshot-max-mb/-files,
# kept across restarts, shown in workspace.json) and per job (az ml `properties`), on a real mount; data
# limits of their own (--data-max-mb/-files), checked at submission and registration.
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

uploaded_blobs() { api http://localhost/v1/workspace | python3 -c 'import json, sys; print(json.load(sys.stdin)["uploads"]["blobs"])'; }

data_limits() {
    api http://localhost/v1/workspace | python3 -c '
import json, sys
l = json.load(sys.stdin)["data_limits"]
print(l["max_mb"], l["max_files"])'
}

t_data_has_limits_of_its_own_checked_at_submission() {
    [ "$(data_limits)" = "2 4" ] || fail "data limits: $(data_limits)"
    grep -q '"data_limits"' "$MNT/workspace.json" || fail "workspace.json: $(cat "$MNT/workspace.json")"
    local exp=$MNT/experiments/bigdata got before
    mkdir -p "$exp/src" "$exp/shards" "$T/shards"
    echo "import sys; print(sys.argv)" > "$exp/src/train.py"
    for i in 1 2 3 4 5; do echo "$i" > "$exp/shards/part-$i.csv"; echo "absolute $i" > "$T/shards/part-$i.csv"; done
    before=$(ls "$DATA/runs" | wc -l)
    got=$(printf 'code: src
command: python3 train.py ${{inputs.shards}}
environment: limhost
inputs:
  shards:
    type: uri_folder
    path: ./shards
' |
        write_spec "$exp/job.yaml")
    [ "$got" = EFBIG ] || fail "close() gave $got, expected EFBIG ($(cat "$exp/status"))"
    grep -q "input 'shards': data folder .*shards has 5 files (.*), over the 4-file limit" "$exp/status" ||
        fail "status: $(cat "$exp/status")"
    # An absolute folder is snapshotted by the mount: it checks the workspace's data limits itself, so
    # nothing of the refused folder is uploaded (it checked fixed limits and uploaded all five files).
    blobs_before=$(uploaded_blobs)
    got=$(printf 'code: src
command: python3 train.py ${{inputs.shards}}
environment: limhost
inputs:
  shards:
    type: uri_folder
    path: %s/shards
' "$T" |
        write_spec "$exp/job.yaml")
    [ "$got" = EFBIG ] && grep -q "input 'shards': .*over the 4-file limit" "$exp/status" ||
        fail "absolute: $got $(cat "$exp/status")"
    [ "$(uploaded_blobs)" = "$blobs_before" ] || fail "the refused folder was uploaded: $blobs_before -> $(uploaded_blobs) blobs"
    head -c 3000000 /dev/urandom > "$exp/weights.bin"
    got=$(printf 'code: src\ncommand: python3 train.py ${{inputs.w}}\nenvironment: limhost\ninputs:\n  w:\n    type: uri_file\n    path: ./weights.bin\n' |
        write_spec "$exp/job.yaml")
    [ "$got" = EFBIG ] && grep -q "input 'w': data file ./weights.bin is 2.9 MB, over the limit of 2 MB" "$exp/status" ||
        fail "a file: $got $(cat "$exp/status")"
    rm "$exp/weights.bin"
    [ "$(ls "$DATA/runs" | wc -l)" = "$before" ] || fail "a refused job left a run folder"
    # Four files are within the data limit, though over the code limit of 3.
    rm "$exp/shards/part-5.csv"
    got=$(printf 'code: src
command: ls ${{inputs.shards}}
environment: limhost
inputs:
  shards:
    type: uri_folder
    path: ./shards
' |
        write_spec "$exp/job.yaml")
    [ "$got" = OK ] || fail "within the data limit: $got $(cat "$exp/status")"
    mkdir "$MNT/data/big" "$MNT/data/big/files"
    for i in 1 2 3 4 5; do echo "$i" > "$MNT/data/big/files/$i.csv"; done
    got=$(printf 'type: uri_folder
path: ./files
' | write_spec "$MNT/data/big/data.yaml")
    [ "$got" = EFBIG ] && grep -q "over the 4-file limit" "$MNT/data/big/status" ||
        fail "data asset: $got $(cat "$MNT/data/big/status")"
}

t_workspace_limits_are_kept_across_restarts() {
    stop_server
    "$AMLFS_SERVER" --data-dir "$DATA" || fail "restart without flags"
    wait_for 10 test -S "$DATA/server.sock" || fail "no socket"
    [ "$(limits)" = "1 3" ] || fail "after a restart without flags: $(limits)"
    [ "$(data_limits)" = "2 4" ] || fail "data limits after a restart without flags: $(data_limits)"
    "$AMLFS_SERVER" --snapshot-max-mb 0 --data-dir "$T/other" 2>"$T/err" && fail "--snapshot-max-mb 0 accepted"
    grep -q "snapshot-max-mb 0: expected a whole number from 1" "$T/err" || fail "message: $(cat "$T/err")"
}

# The workspace's server, started with its limits before the mount (which then uses it).
"$AMLFS_SERVER" --data-dir "$DATA" --snapshot-max-mb 1 --snapshot-max-files 3 --data-max-mb 2 --data-max-files 4 ||
    { echo "amlfs-server did not start"; echo "0 passed, 1 failed"; exit 1; }
mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_host_env limhost && wait_status 10 "$MNT/environments/limhost/status" Ready ||
    { echo "environment not ready"; echo "0 passed, 1 failed"; exit 1; }
run_cases
