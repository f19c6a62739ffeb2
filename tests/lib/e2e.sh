# e2e.sh: shared helpers for the end-to-end tests: a fresh workspace mounted in a temp dir,
# waiting on conditions with deadlines, and cleanup of mounts and processes even when a test fails.
# Source it, define functions named t_*, then call `run_cases`.

set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
AMLFS=$BUILD/amlfs
AMLFS_SERVER=$BUILD/amlfs-server

# E2E_ROOT: where the temp dir goes (/tmp by default; editors treat files under /tmp as scratch and
# make no backups there, so the editor tests use /var/tmp).
T=$(mktemp -d "${E2E_ROOT:-/tmp}/amlfs-e2e.XXXXXX")
DATA=$T/data
MNT=$T/mnt
mkdir -p "$MNT"
_passed=0
_failed=0
_mounted=0

# Mount a fresh workspace (the mount starts its own server on $DATA). Extra args go to amlfs.
mount_ws() {
    "$AMLFS" --data-dir "$DATA" "$@" "$MNT" || { echo "amlfs failed to mount" >&2; return 1; }
    _mounted=1
    wait_for 10 test -f "$MNT/workspace.json"
}

unmount_ws() {
    if [ "$_mounted" = 1 ]; then
        fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || true
        _mounted=0
    fi
}

server_pid() { cat "$DATA/server.pid" 2>/dev/null; }

stop_server() {
    local pid
    pid=$(server_pid) || return 0
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    wait_for 10 sh -c "! kill -0 $pid 2>/dev/null" || kill -9 "$pid" 2>/dev/null || true
}

# The supervisors (and their jobs) were started by this test's server: end them by their recorded pids.
stop_runs() {
    local f pid
    for f in "$DATA"/runs/*/supervisor.pid; do
        [ -f "$f" ] || continue
        pid=$(cut -d' ' -f1 "$f")
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
    done
}

# spawned PID: a process a case started in the background, ended by its pid when the case ends, passed
# or failed. A case runs in a subshell, so a pid kept in a variable there never reaches cleanup (a
# --foreground server of test_network.sh outlived its test that way, holding its data folder's lock).
# Its start time is kept too, so a pid the kernel reused for someone else's process is left alone.
_start_time() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'; }  # after "pid (comm) "
_not_started_at() { [ "$(_start_time "$1")" != "$2" ]; }
spawned() { echo "$1 $(_start_time "$1")" >> "$T/.spawned"; }
_end_pid() {
    [ -n "$2" ] && [ "$(_start_time "$1")" = "$2" ] || return 0
    kill -TERM "$1" 2>/dev/null || return 0
    wait_for 10 _not_started_at "$1" "$2" || kill -9 "$1" 2>/dev/null
    return 0
}
end_spawned() {
    local pid start
    [ -f "$T/.spawned" ] || return 0
    while read -r pid start; do _end_pid "$pid" "$start"; done < "$T/.spawned"
    rm -f "$T/.spawned"
}

# Servers a case started on a data folder of its own (daemonized, or --foreground without spawned):
# ended by the pid each recorded in its folder, if that process is still the one serving a folder of $T.
stop_own_servers() {
    local f pid
    while IFS= read -r f; do
        pid=$(cat "$f" 2>/dev/null)
        [[ $pid =~ ^[0-9]+$ ]] || continue
        tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$T/" || continue
        _end_pid "$pid" "$(_start_time "$pid")"
    done < <(find "$T" -xdev -maxdepth 3 -name server.pid 2>/dev/null)
}

# A test file that starts services of its own (a Slurm cluster) defines test_cleanup to stop them.
cleanup() {
    unmount_ws
    stop_runs
    stop_server
    end_spawned
    if declare -F test_cleanup >/dev/null; then test_cleanup; fi
    # Never through a mount a case left behind: rm would delete the workspace's files through it.
    mountpoint -q "$MNT" 2>/dev/null && { fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null; }
    stop_own_servers
    rm -rf --one-file-system "$T"
}
trap cleanup EXIT INT TERM

# wait_for SECONDS CMD...: run CMD every 50 ms until it succeeds or the deadline passes.
wait_for() {
    local secs=$1
    shift
    local deadline=$((SECONDS + secs))
    while ! "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.05
    done
    return 0
}

# wait_status SECONDS FILE WORD: until FILE's content starts with WORD.
_status_is() { grep -q "^$2" "$1"; }
wait_status() { wait_for "$1" _status_is "$2" "$3"; }

# Submit job.yaml content (stdin) in experiment $1; prints the run id from the experiment's status.
submit() {
    local exp=$1
    cat > "$MNT/experiments/$exp/job.yaml" || return 1
    local line
    line=$(cat "$MNT/experiments/$exp/status")
    case "$line" in
        submitted\ *) line=${line#submitted }; echo "${line%% *}" ;; # a note may follow the id
        *) echo "submission failed: $line" >&2; return 1 ;;
    esac
}

# A user-managed environment named $1 (the host's tools).
make_host_env() {
    mkdir "$MNT/environments/$1" && printf 'name: %s\ndescription: the host tools\n' "$1" \
        > "$MNT/environments/$1/environment.yaml"
}

# Each case runs in its own subshell: failing ends the case there, with the reason.
fail() { echo "    $*"; exit 1; }
# A case that cannot run on this machine (not root, no tool) ends with skip REASON: counted apart, in the
# closing line's ", N skipped" (tests/run.sh adds them up), never as passed.
_SKIP_RC=77
skip() { echo "$*"; exit $_SKIP_RC; }

run_cases() {
    local name out rc _skipped=0
    for name in $(declare -F | awk '{print $3}' | grep '^t_'); do
        [ -n "${CASES:-}" ] && [[ $name != *"$CASES"* ]] && continue # CASES=word: only the cases naming it
        out=$( ("$name") 2>&1; rc=$?; end_spawned; exit $rc)
        rc=$?
        if [ "$rc" = 0 ]; then
            _passed=$((_passed + 1))
            echo "ok   $(basename "$0") ${name#t_}"
        elif [ "$rc" = "$_SKIP_RC" ]; then
            _skipped=$((_skipped + 1))
            echo "skip $(basename "$0") ${name#t_}: $(echo "$out" | tail -1)"
        else
            _failed=$((_failed + 1))
            echo "FAIL $(basename "$0") ${name#t_}"
            echo "$out" | sed 's/^/    /' | tail -20
        fi
    done
    if [ "$_skipped" -gt 0 ]; then
        echo "$_passed passed, $_failed failed, $_skipped skipped"
    else
        echo "$_passed passed, $_failed failed"
    fi
}

# write_spec FILE: write stdin to FILE as one open/write/close and print the errno name close()
# (or open/write) failed with, or OK. Shells ignore close errors; this is what an editor sees.
write_spec() {
    python3 -c '
import errno, os, sys
data = sys.stdin.buffer.read()
try:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data)
    os.close(fd)
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
' "$1"
}

run_count() { ls "$MNT/runs" | wc -l; }
