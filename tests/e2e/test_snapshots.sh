#!/usr/bin/env bash
# test_snapshots.sh: code snapshots on a real mount: a local folder over the limit refused with what to
# ignore, dedupe (a resubmission uploads nothing, one changed file uploads one), hostile uploads
# refused with nothing landing outside, runs/ID/snapshot byte for byte, and ignore-file precedence.
. "$(dirname "$0")/../lib/e2e.sh"

api() { curl -sS --unix-socket "$DATA/server.sock" "$@"; }

# uploads: "BYTES BLOBS REQUESTS" from the workspace's counters (GET /v1/workspace).
uploads() {
    api http://localhost/v1/workspace | python3 -c '
import json, sys
u = json.load(sys.stdin)["uploads"]
print(u["bytes"], u["blobs"], u["requests"])'
}

# submit_code EXPERIMENT CODE-DIR COMMAND [EXTRA-YAML]: a job whose code is an absolute local folder.
submit_code() {
    mkdir -p "$MNT/experiments/$1"
    printf 'command: %s\ncode: %s\nenvironment: snaphost\n%s' "$3" "$2" "${4:-}" | submit "$1"
}

run_field() { # run_field ID FIELD
    api "http://localhost/v1/runs/$1" | python3 -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$2"
}

t_local_folder_over_the_limit_names_the_venv_and_the_ignore_line() {
    local proj=$T/fastai before got line id b0 b1
    mkdir -p "$proj/venv/lib"
    echo 'print("trained")' > "$proj/train.py"
    truncate -s 400M "$proj/venv/lib/libtorch.so" # sparse: 400 MB that cost nothing
    mkdir "$MNT/experiments/big"
    before=$(run_count)
    read -r b0 _ <<< "$(uploads)"
    got=$(printf 'command: python3 train.py\ncode: %s\nenvironment: snaphost\n' "$proj" |
        write_spec "$MNT/experiments/big/job.yaml")
    [ "$got" = EFBIG ] || fail "close() gave $got, expected EFBIG"
    line=$(cat "$MNT/experiments/big/status")
    case "$line" in
        "Rejected: job.yaml line 2 column 7: code folder $proj is 400 MB in 2 files, over the 300 MB limit"*) ;;
        *) fail "status: $line" ;;
    esac
    [[ $line == *"largest: venv/ 400 MB"* ]] || fail "the venv is not named: $line"
    [[ $line == *'add `venv/` to .amlignore to leave it out'* ]] || fail "no ignore line: $line"
    [ "$(run_count)" = "$before" ] || fail "a run was created"
    read -r b1 _ <<< "$(uploads)"
    [ "$b1" = "$b0" ] || fail "$((b1 - b0)) bytes were uploaded for a refused folder"

    echo 'venv/' > "$proj/.amlignore"
    id=$(printf 'command: python3 train.py\ncode: %s\nenvironment: snaphost\n' "$proj" | submit big) ||
        fail "resubmission with .amlignore: $(cat "$MNT/experiments/big/status")"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status")"
    grep -qx trained "$MNT/runs/$id/log" || fail "log: $(cat "$MNT/runs/$id/log")"
    [ ! -e "$MNT/runs/$id/snapshot/venv" ] || fail "the ignored venv is in the snapshot"
    [ -f "$MNT/runs/$id/snapshot/.amlignore" ] || fail ".amlignore itself is code and belongs in the snapshot"
}

t_resubmission_uploads_nothing_and_one_change_uploads_one_file() {
    local proj=$T/dedupe b0 k0 r0 b1 k1 r1 b2 k2 r2 b3 k3 r3 id1 id2 id3 size
    mkdir -p "$proj/src"
    for i in 1 2 3 4 5; do head -c 20000 /dev/urandom > "$proj/src/part$i.bin"; done
    echo 'echo ok' > "$proj/run.sh"
    read -r b0 k0 r0 <<< "$(uploads)"
    id1=$(submit_code dedupe "$proj" "sh run.sh") || fail "first submission"
    read -r b1 k1 r1 <<< "$(uploads)"
    [ $((k1 - k0)) = 6 ] || fail "first submission stored $((k1 - k0)) blobs, expected 6"
    [ $((b1 - b0)) -ge 100000 ] || fail "first submission uploaded only $((b1 - b0)) bytes"

    id2=$(submit_code dedupe "$proj" "sh run.sh") || fail "second submission"
    read -r b2 k2 r2 <<< "$(uploads)"
    [ "$b2 $k2 $r2" = "$b1 $k1 $r1" ] || fail "unchanged code uploaded: before $b1 $k1 $r1, after $b2 $k2 $r2"
    [ "$(run_field "$id1" snapshot)" = "$(run_field "$id2" snapshot)" ] || fail "same code, different snapshots"

    head -c 30000 /dev/urandom > "$proj/src/part3.bin"
    id3=$(submit_code dedupe "$proj" "sh run.sh") || fail "third submission"
    read -r b3 k3 r3 <<< "$(uploads)"
    [ $((k3 - k2)) = 1 ] || fail "one changed file stored $((k3 - k2)) blobs"
    [ $((r3 - r2)) = 1 ] || fail "one changed file took $((r3 - r2)) upload requests"
    size=$((b3 - b2))
    # The file and its tar headers (512-byte blocks), nothing of the other files.
    [ "$size" -ge 30000 ] && [ "$size" -lt 40000 ] || fail "one 30000-byte change uploaded $size bytes"
    [ "$(run_field "$id1" snapshot)" != "$(run_field "$id3" snapshot)" ] || fail "changed code, same snapshot"
    wait_status 20 "$MNT/runs/$id3/status" Completed || fail "run: $(cat "$MNT/runs/$id3/status")"
    cmp "$proj/src/part3.bin" "$MNT/runs/$id3/snapshot/src/part3.bin" || fail "the new content is not the run's"
    ! cmp -s "$proj/src/part3.bin" "$MNT/runs/$id1/snapshot/src/part3.bin" || fail "the old run's snapshot changed"
}

t_run_reads_its_snapshot_and_snapshot_matches_the_source() {
    local proj=$T/exact id
    umask 022 # the modes a snapshot keeps are 644 and 755
    mkdir -p "$proj/data/deep" "$proj/empty"
    printf 'line one\nline two\n' > "$proj/data/input.txt"
    head -c 123457 /dev/urandom > "$proj/data/deep/weights.bin"
    : > "$proj/data/zero"
    printf '#!/bin/sh\necho "script ran"\ncat linked.txt\nwc -c < data/deep/weights.bin\n' > "$proj/run.sh"
    chmod 755 "$proj/run.sh"
    ln -s data/input.txt "$proj/linked.txt"
    ln -s deep "$proj/data/alias"
    id=$(submit_code exact "$proj" "./run.sh") || fail "submit"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status"); $(cat "$MNT/runs/$id/log")"
    grep -qx "script ran" "$MNT/runs/$id/log" || fail "the executable bit was lost: $(cat "$MNT/runs/$id/log")"
    grep -qx "line two" "$MNT/runs/$id/log" || fail "the symlink did not lead to its file"
    grep -qx 123457 "$MNT/runs/$id/log" || fail "the binary file: $(cat "$MNT/runs/$id/log")"

    local snap=$MNT/runs/$id/snapshot
    diff -r --no-dereference "$proj" "$snap" || fail "diff -r differs"
    diff -r "$proj" "$snap" >/dev/null || fail "diff -r through the symlinks differs"
    cmp "$proj/data/deep/weights.bin" "$snap/data/deep/weights.bin" || fail "cmp of the binary"
    for f in run.sh data/input.txt data/deep/weights.bin data/zero; do
        [ "$(stat -c '%a %s %F' "$proj/$f")" = "$(stat -c '%a %s %F' "$snap/$f")" ] ||
            fail "$f: source $(stat -c '%a %s %F' "$proj/$f"), snapshot $(stat -c '%a %s %F' "$snap/$f")"
    done
    [ "$(readlink "$snap/linked.txt")" = data/input.txt ] || fail "readlink linked.txt: $(readlink "$snap/linked.txt")"
    [ "$(readlink "$snap/data/alias")" = deep ] || fail "readlink data/alias"
    [ -d "$snap/empty" ] || fail "the empty folder is missing"
    ls -l "$snap/data/deep/weights.bin" | awk '{exit !($5 == 123457)}' || fail "ls -l size"
    [ "$(ls -A "$snap" | sort | tr '\n' ' ')" = "data empty linked.txt run.sh " ] ||
        fail "listing: $(ls -A "$snap")"
    ls "$MNT/runs/$id" | grep -qx snapshot || fail "runs/ID does not list snapshot"

    # Read-only, whatever the caller's rights: nothing of a run's snapshot can change.
    (echo x > "$snap/run.sh") 2>/dev/null && fail "wrote into the snapshot"
    touch "$snap/new" 2>/dev/null && fail "created a file in the snapshot"
    mkdir "$snap/newdir" 2>/dev/null && fail "made a folder in the snapshot"
    rm -f "$snap/run.sh" 2>/dev/null; [ -f "$snap/run.sh" ] || fail "removed a file of the snapshot"
    rmdir "$snap/empty" 2>/dev/null; [ -d "$snap/empty" ] || fail "removed a folder of the snapshot"
    cmp "$proj/run.sh" "$snap/run.sh" || fail "the snapshot changed"
    # The run works on its own copy: what it writes never reaches the snapshot.
    [ -d "$DATA/runs/$id/work/outputs" ] || fail "no outputs/ in the run's folder"
}

t_experiment_code_is_snapshotted_by_the_server_without_upload() {
    local id b0 b1 got
    mkdir -p "$MNT/experiments/own/src"
    echo 'print("own code")' > "$MNT/experiments/own/src/main.py"
    head -c 2000000 /dev/urandom > "$MNT/experiments/own/src/big.bin"
    read -r b0 _ <<< "$(uploads)"
    id=$(printf 'command: python3 main.py\ncode: src\nenvironment: snaphost\n' | submit own) || fail "submit"
    read -r b1 _ <<< "$(uploads)"
    [ "$b0" = "$b1" ] || fail "the experiment's own files were uploaded ($((b1 - b0)) bytes)"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status")"
    grep -qx "own code" "$MNT/runs/$id/log" || fail "log: $(cat "$MNT/runs/$id/log")"
    cmp "$MNT/experiments/own/src/big.bin" "$MNT/runs/$id/snapshot/big.bin" || fail "snapshot content"
    [ -n "$(run_field "$id" snapshot)" ] || fail "the run object has no snapshot"

    # A job's own limit (az ml `properties`), checked on the server's side too.
    got=$(printf 'command: python3 main.py\ncode: src\nenvironment: snaphost\nproperties:\n  amlfs.snapshot_max_mb: "1"\n' |
        write_spec "$MNT/experiments/own/job.yaml")
    [ "$got" = EFBIG ] || fail "close() gave $got, expected EFBIG"
    grep -q 'over the 1 MB limit: largest: big.bin 1.9 MB.*add `big.bin` to .amlignore' "$MNT/experiments/own/status" ||
        fail "status: $(cat "$MNT/experiments/own/status")"
    echo big.bin > "$MNT/experiments/own/src/.amlignore"
    id=$(printf 'command: python3 main.py\ncode: src\nenvironment: snaphost\nproperties:\n  amlfs.snapshot_max_mb: "1"\n' |
        submit own) || fail "with .amlignore: $(cat "$MNT/experiments/own/status")"
    [ ! -e "$MNT/runs/$id/snapshot/big.bin" ] || fail "big.bin was not left out"
}

t_gitignore_applies_unless_amlignore_exists() {
    local proj=$T/ignores id snap
    mkdir -p "$proj/data" "$proj/logs" "$proj/sub"
    printf '*.log\n!keep.log\ndata/\n/build\n' > "$proj/.gitignore"
    printf 'local.txt\n' > "$proj/sub/.gitignore"
    for f in a.py debug.log keep.log data/x.csv logs/run.log sub/local.txt sub/kept.txt secret.txt build; do
        echo "$f" > "$proj/$f"
    done
    id=$(submit_code ignores "$proj" "true") || fail "submit with .gitignore"
    snap=$MNT/runs/$id/snapshot
    [ "$(cd "$snap" && find . -mindepth 1 | sort | tr '\n' ' ')" = \
        "./.gitignore ./a.py ./keep.log ./logs ./secret.txt ./sub ./sub/.gitignore ./sub/kept.txt " ] ||
        fail ".gitignore rules: $(cd "$snap" && find . -mindepth 1 | sort | tr '\n' ' ')"

    # With a root .amlignore, it alone decides: the .gitignore files are not read at all.
    printf 'secret.txt\n' > "$proj/.amlignore"
    id=$(submit_code ignores "$proj" "true") || fail "submit with .amlignore"
    snap=$MNT/runs/$id/snapshot
    for f in debug.log data/x.csv logs/run.log sub/local.txt build; do
        [ -f "$snap/$f" ] || fail "$f is left out, but only .amlignore decides now"
    done
    [ ! -e "$snap/secret.txt" ] || fail ".amlignore did not leave secret.txt out"
}

t_hostile_uploads_are_refused_and_nothing_lands_outside() {
    local hash out
    mkdir -p "$T/hostile"
    cp /etc/passwd "$T/hostile/passwd.before"
    python3 - "$T/hostile" <<'P' || fail "making the archives"
import hashlib, io, json, os, sys, tarfile
out = sys.argv[1]
good = b"good content\n"
sha = hashlib.sha256(good).hexdigest()
json.dump({"manifest": {"format": "amlfs-snapshot-1", "entries": [
    {"path": "ok.txt", "type": "file", "mode": 420, "size": len(good), "sha256": sha}]}},
    open(os.path.join(out, "manifest.json"), "w"))
def tar(name, members):
    with tarfile.open(os.path.join(out, name), "w", format=tarfile.PAX_FORMAT) as t:
        for m, data in members:
            t.addfile(m, io.BytesIO(data) if data is not None else None)
def f(path, data):
    i = tarfile.TarInfo(path); i.size = len(data); return (i, data)
def link(path, target):
    i = tarfile.TarInfo(path); i.type = tarfile.SYMTYPE; i.linkname = target; return (i, None)
def hard(path, target):
    i = tarfile.TarInfo(path); i.type = tarfile.LNKTYPE; i.linkname = target; return (i, None)
evil = b"evil content\n"
tar("dotdot.tar", [f("../../../escaped-dotdot.txt", evil)])
tar("nested-dotdot.tar", [f("ok/../../escaped-nested.txt", evil)])
tar("absolute.tar", [f(os.path.join(out, "escaped-absolute.txt"), evil)])
tar("symlink.tar", [link("ok.txt", "/etc/passwd")])
tar("through-symlink.tar", [link("esc", os.path.dirname(out)), f("esc/escaped-through.txt", evil)])
tar("hardlink.tar", [hard("ok.txt", "/etc/passwd")])
tar("wrong-content.tar", [f("ok.txt", b"evil content!")])
tar("good.tar", [f("ok.txt", good)])
# Manifests are checked as strictly as archives.
for name, entry in [("m-dotdot", {"path": "../x", "type": "dir"}),
                    ("m-absolute", {"path": "/tmp/x", "type": "dir"}),
                    ("m-symlink", {"path": "ln", "type": "symlink", "target": "../../etc"})]:
    json.dump({"manifest": {"format": "amlfs-snapshot-1", "entries": [entry]}},
              open(os.path.join(out, name + ".json"), "w"))
P
    for m in m-dotdot m-absolute m-symlink; do
        out=$(api -o /dev/null -w '%{http_code}' -X POST --data-binary "@$T/hostile/$m.json" http://localhost/v1/snapshots)
        [ "$out" = 400 ] || fail "manifest $m answered $out"
    done
    hash=$(api -X POST --data-binary "@$T/hostile/manifest.json" http://localhost/v1/snapshots |
        python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["missing"]) == 1, d; print(d["snapshot"])') ||
        fail "POST /v1/snapshots"
    for a in dotdot nested-dotdot absolute symlink through-symlink hardlink wrong-content; do
        out=$(api -w ' %{http_code}' -X POST -H 'Content-Type: application/x-tar' \
            --data-binary "@$T/hostile/$a.tar" "http://localhost/v1/blobs?snapshot=$hash")
        [[ $out == *" 400" ]] || fail "$a.tar answered: $out"
        [[ $out == *refused* || $out == *"does not have the content"* ]] || fail "$a.tar: no reason given: $out"
    done
    local escaped
    escaped=$(find "$T" /tmp / -maxdepth 4 -xdev -name 'escaped-*' 2>/dev/null)
    [ -z "$escaped" ] || fail "files landed outside: $escaped"
    cmp -s /etc/passwd "$T/hostile/passwd.before" || fail "/etc/passwd changed"
    # The store still lacks the content, and takes the real one.
    out=$(api -X POST -H 'Content-Type: application/x-tar' --data-binary "@$T/hostile/good.tar" \
        "http://localhost/v1/blobs?snapshot=$hash")
    [[ $out == *'"stored":1'* && $out == *'"missing":[]'* ]] || fail "good upload: $out"
    # An upload larger than the snapshot's contents can take is cut off.
    head -c 3000000 /dev/zero > "$T/hostile/huge.tar"
    out=$(api -o /dev/null -w '%{http_code}' -X POST --data-binary "@$T/hostile/huge.tar" \
        "http://localhost/v1/blobs?snapshot=$hash")
    [ "$out" = 413 ] || fail "an oversized upload answered $out"
}

# A snapshot keeps its files' and folders' modification times (the experiment's own folder and an absolute
# one): runs/ID/snapshot and the job's working copy show them; times are not in the hash, so touching
# files and resubmitting uploads nothing and names the same snapshot.
t_a_snapshot_keeps_the_modification_times_the_code_folder_had() {
    local proj=$T/times id id2 want b0 b1
    mkdir -p "$proj/pkg" "$MNT/experiments/owntimes/pkg"
    echo 'x = 1' > "$proj/pkg/a.py"
    echo 'y = 2' > "$MNT/experiments/owntimes/pkg/a.py"
    touch -d '2021-03-04 05:06:07.250' "$proj/pkg/a.py" "$MNT/experiments/owntimes/pkg/a.py"
    touch -d '2020-01-02 03:04:05' "$proj/pkg" "$MNT/experiments/owntimes/pkg"
    want=$(date -d '2021-03-04 05:06:07' +%s)
    id=$(submit_code abstimes "$proj" 'stat -c %Y pkg/a.py') || fail "absolute folder"
    id2=$(printf 'command: stat -c %%Y pkg/a.py\nenvironment: snaphost\n' | submit owntimes) || fail "own folder"
    for r in "$id" "$id2"; do
        [ "$(stat -c %Y "$MNT/runs/$r/snapshot/pkg/a.py")" = "$want" ] ||
            fail "run $r: snapshot file time $(stat -c %y "$MNT/runs/$r/snapshot/pkg/a.py")"
        [ "$(stat -c %.3Y "$MNT/runs/$r/snapshot/pkg/a.py")" = "$want.250" ] ||
            fail "run $r: milliseconds $(stat -c %.3Y "$MNT/runs/$r/snapshot/pkg/a.py")"
        [ "$(stat -c %Y "$MNT/runs/$r/snapshot/pkg")" = "$(date -d '2020-01-02 03:04:05' +%s)" ] ||
            fail "run $r: snapshot folder time $(stat -c %y "$MNT/runs/$r/snapshot/pkg")"
        wait_status 20 "$MNT/runs/$r/status" Completed || fail "run $r: $(cat "$MNT/runs/$r/status")"
        grep -qx "$want" "$MNT/runs/$r/log" || fail "run $r: the job saw $(cat "$MNT/runs/$r/log")"
    done
    read -r b0 _ <<< "$(uploads)"
    touch "$proj/pkg/a.py"
    id2=$(submit_code abstimes "$proj" 'true') || fail "resubmission"
    read -r b1 _ <<< "$(uploads)"
    [ "$b1" = "$b0" ] || fail "a touched file uploaded $((b1 - b0)) bytes"
    [ "$(run_field "$id2" snapshot)" = "$(run_field "$id" snapshot)" ] || fail "a touched file changed the snapshot's hash"
}

mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_host_env snaphost && wait_status 10 "$MNT/environments/snaphost/status" Ready ||
    { echo "environment not ready"; echo "0 passed, 1 failed"; exit 1; }
run_cases
