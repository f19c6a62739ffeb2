#!/usr/bin/env bash
# test_install.sh: amlfs installs and mounts like a well-kept filesystem: `make install` into a temp
# DESTDIR and `make uninstall`, manual pages that render and name every option, --help/--version, mount(8)'s
# helper (mount.fuse3) and an fstab line, and the systemd unit's command run as systemd would run it.
. "$(dirname "$0")/../lib/e2e.sh"

DEST=$T/root
PREFIX=/usr/local
test_cleanup() {
    fusermount3 -u "$MNT" 2>/dev/null
    return 0
}

install_here() { make -s -C "$ROOT" install BUILD="$BUILD" DESTDIR="$DEST" PREFIX="$PREFIX" >"$T/install.log" 2>&1; }

t_make_install_puts_both_programs_pages_and_unit_in_destdir_and_uninstall_removes_them() {
    install_here || fail "make install: $(cat "$T/install.log")"
    for f in bin/amlfs bin/amlfs-server share/man/man1/amlfs.1 share/man/man8/amlfs-server.8 \
        lib/systemd/system/amlfs-server.service; do
        [ -f "$DEST$PREFIX/$f" ] || fail "missing $PREFIX/$f: $(find "$DEST" -type f)"
    done
    [ "$(stat -c %a "$DEST$PREFIX/bin/amlfs")" = 755 ] && [ "$(stat -c %a "$DEST$PREFIX/share/man/man1/amlfs.1")" = 644 ] ||
        fail "modes"
    grep -qx "ExecStart=$PREFIX/bin/amlfs-server --foreground" "$DEST$PREFIX/lib/systemd/system/amlfs-server.service" ||
        fail "unit: $(grep ExecStart "$DEST$PREFIX/lib/systemd/system/amlfs-server.service")"
    "$DEST$PREFIX/bin/amlfs" --version | grep -q "^amlfs " || fail "installed amlfs does not run"
    make -s -C "$ROOT" uninstall DESTDIR="$DEST" PREFIX="$PREFIX" >/dev/null || fail "make uninstall"
    [ -z "$(find "$DEST" -type f)" ] || fail "left behind: $(find "$DEST" -type f)"
}

t_manual_pages_render_cleanly_and_name_every_option() {
    for page in "$ROOT/man/amlfs.1" "$ROOT/man/amlfs-server.8"; do
        warnings=$(groff -man -ww -z "$page" 2>&1)
        [ -z "$warnings" ] || fail "groff warns on $page: $warnings"
        MANWIDTH=80 man -l "$page" 2>/dev/null | grep -q "^NAME" || fail "man -l $page"
    done
    page=$(MANWIDTH=200 man -l "$ROOT/man/amlfs-server.8" 2>/dev/null)
    for opt in $("$AMLFS_SERVER" --help | grep -o -- '--[a-z-]*' | sort -u); do
        echo "$page" | grep -q -- "$opt" || fail "amlfs-server(8) does not name $opt"
    done
    page=$(MANWIDTH=200 man -l "$ROOT/man/amlfs.1" 2>/dev/null)
    for opt in $("$AMLFS" --help | sed -n '/^amlfs options/,/^$/p' | grep -o -- '--[a-z-]*\|[a-z_]*=' | sort -u); do
        echo "$page" | grep -q -- "$opt" || fail "amlfs(1) does not name $opt"
    done
}

t_help_and_version_follow_fuse_norms() {
    out=$("$AMLFS" --help) || fail "--help exit $?"
    echo "$out" | grep -q "^usage: .*\[SOURCE\] MOUNTPOINT" && echo "$out" | grep -q -- "-o allow_other" ||
        fail "help: $out"
    out=$("$AMLFS" -V) || fail "-V exit $?"
    echo "$out" | grep -q "^amlfs [0-9.]* (API .*), libfuse 3\." || fail "version: $out"
    "$AMLFS_SERVER" --version | grep -q "^amlfs-server [0-9.]* (API " || fail "server version"
    "$AMLFS" 2>"$T/err"; [ $? -ne 0 ] && grep -q "no mountpoint given" "$T/err" || fail "no mountpoint: $(cat "$T/err")"
    "$AMLFS_SERVER" --log-level loud 2>"$T/err"; [ $? = 2 ] && grep -q "expected error, warning, info or debug" "$T/err" ||
        fail "bad log level: $(cat "$T/err")"
}

# `make install` on a fresh machine: the two programs and what they need, not the test programs, and
# only the build packages when some are missing (make -n: what it would do, from an empty build folder).
t_make_install_builds_only_the_two_programs() {
    make -n -C "$ROOT" install BUILD="$T/fresh" DESTDIR="$DEST" PREFIX="$PREFIX" >"$T/plan" 2>&1 || fail "make -n install: $(tail "$T/plan")"
    grep -q -- "-o $T/fresh/amlfs " "$T/plan" && grep -q -- "-o $T/fresh/amlfs-server " "$T/plan" || fail "plan: $(grep -- ' -o ' "$T/plan")"
    ! grep -q "$T/fresh/tests" "$T/plan" || fail "it builds tests: $(grep -m3 "$T/fresh/tests" "$T/plan")"
    grep -q "scripts/deps.sh --build-only" "$T/plan" || fail "deps: $(grep deps "$T/plan")"
}

# mount(8) itself, as the README says, in a mount namespace of its own (nothing shows outside the test):
# `mount -t fuse.amlfs` and the README's fstab line (in a temp fstab, mount -T), through mount.fuse3.
# mount(8) runs its helper without PATH, so sh's default path finds `amlfs`: in the namespace the
# DESTDIR install is bound over PREFIX/bin, where `make install` puts it on a real machine.
t_mount_t_fuse_amlfs_and_the_readme_fstab_line_mount_the_workspace() {
    [ "$(id -u)" = 0 ] || skip "mount(8) needs root"
    command -v unshare >/dev/null && unshare -m true 2>/dev/null || skip "no mount namespaces (unshare -m)"
    install_here || fail "make install: $(cat "$T/install.log")"
    cmd=$(grep -m1 -o 'mount -t fuse.amlfs /var/lib/amlfs /mnt/ws -o [a-z_,]*' "$ROOT/README.md") || fail "README: no mount -t line"
    line=$(grep -m1 '^/var/lib/amlfs .*fuse.amlfs' "$ROOT/README.md") || fail "README: no fstab line"
    cmd=${cmd/\/var\/lib\/amlfs/$DATA}; cmd=${cmd/\/mnt\/ws/$MNT}
    line=${line/\/var\/lib\/amlfs/$DATA}; line=${line/\/mnt\/ws/$MNT}
    echo "$line" > "$T/fstab"
    cat > "$T/in-ns.sh" <<'NS'
set -u
MNT=$1 DATA=$2 FSTAB=$3 BIN=$4 INSTALLED=$5
mount --bind "$INSTALLED" "$BIN" || { echo "bind $INSTALLED on $BIN"; exit 1; }
trap 'mountpoint -q "$MNT" && fusermount3 -u "$MNT"' EXIT
up() { # until the workspace answers (10 s)
    for _ in $(seq 200); do [ -f "$MNT/workspace.json" ] && return 0; sleep 0.05; done
    return 1
}
shift 5
"$@" || { echo "$*: exit $?"; exit 1; }
up || { echo "$*: not mounted"; exit 1; }
[ "$(findmnt -n -o SOURCE,FSTYPE "$MNT" | tr -s ' ')" = "$DATA fuse.amlfs" ] || { echo "findmnt: $(findmnt "$MNT")"; exit 1; }
fusermount3 -u "$MNT" || { echo "unmount"; exit 1; }
mount -T "$FSTAB" "$MNT" || { echo "mount -T fstab ($(cat "$FSTAB")): exit $?"; exit 1; }
up || { echo "fstab: not mounted"; exit 1; }
[ "$(findmnt -n -o SOURCE,FSTYPE,OPTIONS "$MNT" | tr -s ' ' | cut -d' ' -f1,2)" = "$DATA fuse.amlfs" ] || { echo "findmnt: $(findmnt "$MNT")"; exit 1; }
findmnt -n -o OPTIONS "$MNT" | grep -q allow_other || { echo "fstab options: $(findmnt -n -o OPTIONS "$MNT")"; exit 1; }
mkdir "$MNT/experiments/from-fstab" && [ -d "$DATA/experiments/from-fstab" ] || { echo "not the workspace of $DATA"; exit 1; }
fusermount3 -u "$MNT" || { echo "unmount"; exit 1; }
NS
    # shellcheck disable=SC2086 # the README's command, split as a shell would
    unshare -m --propagation private bash "$T/in-ns.sh" "$MNT" "$DATA" "$T/fstab" "$PREFIX/bin" "$DEST$PREFIX/bin" $cmd \
        >"$T/ns.log" 2>&1 || fail "$(cat "$T/ns.log")"
    mountpoint -q "$MNT" && fail "the namespace's mount shows outside it"
    return 0
}

t_the_systemd_unit_s_command_serves_with_its_settings_and_logs_levels() {
    install_here || fail "make install: $(cat "$T/install.log")"
    unit="$DEST$PREFIX/lib/systemd/system/amlfs-server.service"
    grep -qx "KillMode=process" "$unit" && grep -qx "EnvironmentFile=-/etc/default/amlfs-server" "$unit" || fail "unit"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # As systemd would: the unit's Environment= lines, then the settings file (here: the test's own).
    printf 'AMLFS_DATA_DIR=%s\nAMLFS_LISTEN=127.0.0.1:%s\n' "$T/svc" "$port" > "$T/default"
    cmd=$(sed -n 's/^ExecStart=//p' "$unit")
    (
        set -a
        eval "$(sed -n 's/^Environment=//p' "$unit")"
        . "$T/default"
        set +a
        exec env -u AMLFS_PODMAN_ROOT -u AMLFS_PODMAN_RUNROOT ${cmd/$PREFIX\/bin/$DEST$PREFIX/bin} 2>"$T/svc.log"
    ) &
    SVC_PID=$!
    spawned "$SVC_PID"
    wait_for 10 test -S "$T/svc/server.sock" || fail "no socket: $(cat "$T/svc.log")"
    wait_for 10 curl -sf -H "Authorization: Bearer $(cat "$T/svc/token" 2>/dev/null)" "http://127.0.0.1:$port/v1/workspace" ||
        fail "TCP listener: $(cat "$T/svc.log")"
    grep -q "^amlfs-server: info: version .* listening on unix:.* and tcp:127.0.0.1:$port" "$T/svc.log" ||
        fail "log line: $(cat "$T/svc.log")"
    kill -TERM "$SVC_PID"
    wait "$SVC_PID"
    rc=$?
    [ "$rc" = 0 ] && grep -q "^amlfs-server: info: Terminated: stopping (runs keep going)" "$T/svc.log" ||
        fail "stop: exit $rc, $(cat "$T/svc.log")"
    # Under the journal, each line starts with its syslog priority; a higher threshold hides info.
    : > "$T/journal.log"
    exec 9>>"$T/journal.log"
    JOURNAL_STREAM=$(stat -c '%d:%i' "$T/journal.log") AMLFS_LOG_LEVEL=info \
        "$DEST$PREFIX/bin/amlfs-server" --foreground --data-dir "$T/svc2" 2>&9 &
    SVC_PID=$!
    spawned "$SVC_PID"
    wait_for 10 grep -q "^<6>version " "$T/journal.log" || fail "journal format: $(cat "$T/journal.log")"
    kill -TERM "$SVC_PID"; wait "$SVC_PID"
    AMLFS_LOG_LEVEL=warning "$DEST$PREFIX/bin/amlfs-server" --foreground --data-dir "$T/svc3" 2>"$T/quiet.log" &
    SVC_PID=$!
    spawned "$SVC_PID"
    wait_for 10 test -S "$T/svc3/server.sock" || fail "quiet server"
    kill -TERM "$SVC_PID"; wait "$SVC_PID"
    [ ! -s "$T/quiet.log" ] || fail "info lines under AMLFS_LOG_LEVEL=warning: $(cat "$T/quiet.log")"
}

# kill -9 of the mount left "Transport endpoint is not connected" until a fusermount3 -u by hand.
t_mounting_again_after_the_mount_was_killed_just_works() {
    "$AMLFS" -f --data-dir "$DATA" "$MNT" 2>"$T/first.err" &
    pid=$!
    spawned "$pid"
    wait_for 10 test -f "$MNT/workspace.json" || { kill "$pid"; fail "first mount: $(cat "$T/first.err")"; }
    kill -9 "$pid"
    wait "$pid" 2>/dev/null
    ls "$MNT" >/dev/null 2>&1 && fail "the killed mount still answers"
    "$AMLFS" --data-dir "$DATA" "$MNT" 2>"$T/again.err" || fail "mount again: $(cat "$T/again.err")"
    wait_for 10 test -f "$MNT/workspace.json" || fail "not mounted again"
    grep -q "was a mount whose daemon had died" "$T/again.err" || fail "not said: $(cat "$T/again.err")"
    fusermount3 -u "$MNT" || fail "unmount"
}

# Secrets others can read are refused, not used with a warning; a data folder of another user is refused.
t_a_token_file_others_can_read_is_refused() {
    printf '%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$T/token"
    chmod 644 "$T/token"
    "$AMLFS_SERVER" --foreground --data-dir "$T/tok" --listen 127.0.0.1:0 --token-file "$T/token" 2>"$T/err" &
    pid=$!
    spawned "$pid"
    wait_for 10 sh -c "! kill -0 $pid" || { kill "$pid"; fail "the server started"; }
    wait "$pid"; rc=$?
    [ "$rc" = 1 ] && grep -q "$T/token is readable by others (mode 644): chmod 600 it" "$T/err" ||
        fail "exit $rc: $(cat "$T/err")"
    if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
        mkdir -m 700 "$T/theirs" && chown nobody "$T/theirs"
        "$AMLFS_SERVER" --foreground --data-dir "$T/theirs" 2>"$T/err"
        [ $? = 1 ] && grep -q "data folder $T/theirs belongs to uid" "$T/err" || fail "another user's folder: $(cat "$T/err")"
    fi
}

run_cases
