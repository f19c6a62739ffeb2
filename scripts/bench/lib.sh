# lib.sh: what the bench's row families share: their own workspace (a server and a mount in a temp dir,
# torn down on any exit), waiting with deadlines, timing commands into sample files, and result rows.
# Source it from scripts/bench.sh; written for `set -u` without `set -e` (failures become skipped rows).

set -u
export LC_ALL=C # EPOCHREALTIME with a '.', sort and awk as written
export PYTHONDONTWRITEBYTECODE=1 # the helpers leave no __pycache__ in the tree
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
AMLFS=$BUILD/amlfs
HELP=$ROOT/tests/bench
# The interpreter itself, not a shim in front of it (jobs start it too: startup time is measured).
PY=$(python3 -c 'import sys; print(sys.executable)')

T=$(mktemp -d /tmp/amlfs-bench.XXXXXX)
chmod 755 "$T" # a Slurm cluster's daemons (munge, slurmrestd as nobody) reach their files below it
DATA=$T/data
MNT=$T/mnt
SOCK=$DATA/server.sock
ROWS=$T/rows.jsonl
NOTES=$T/notes
REFIMG=$T/ref.img
REFMNT=$T/ref
ERR=$T/err
mkdir -p "$MNT" "$REFMNT"
: > "$ROWS"
: > "$NOTES"
MOUNT_PID=
AMLFS_PEAK_KIB=0
BG_PIDS=()
REF_LOOP=0
SLURM_STARTED=0

now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }

# wait_for SECONDS CMD...: run CMD every 20 ms until it succeeds; 1 when the deadline passes.
wait_for() {
    local deadline=$(($(now_us) + $1 * 1000000))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$(now_us)" -ge "$deadline" ] && return 1
        sleep 0.02
    done
}

_status_is() { grep -q "^$2" "$1"; }
wait_status() { wait_for "$1" _status_is "$2" "$3"; }

# The mount runs in the foreground (-f) in the background of this shell: its pid is ours. The first
# mount starts the workspace's server.
mount_ws() {
    "$AMLFS" -f --data-dir "$DATA" "$MNT" 2>>"$T/amlfs.log" &
    MOUNT_PID=$!
    wait_for 20 test -f "$MNT/workspace.json"
}

# "amlfs RSS under 64 MiB throughout": every mount's peak (VmHWM) is sampled at each section's end and
# before it is unmounted, with the section it grew in. PHASE_PEAK_KIB is the same for a phase's callers.
PHASE_PEAK_KIB=0
mount_peak_sample() {
    local hwm
    [ -n "$MOUNT_PID" ] || return 0
    hwm=$(mem_kib "$MOUNT_PID" VmHWM)
    [ -n "$hwm" ] || return 0
    [ "$hwm" -gt "$PHASE_PEAK_KIB" ] && PHASE_PEAK_KIB=$hwm
    if [ "$hwm" -gt "$AMLFS_PEAK_KIB" ]; then
        AMLFS_PEAK_KIB=$hwm
        PEAK_WHERE=$CUR_SECTION
    fi
    return 0
}

unmount_ws() {
    [ -n "$MOUNT_PID" ] || return 0
    mount_peak_sample
    fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
    wait_for 10 sh -c "! kill -0 $MOUNT_PID 2>/dev/null" || kill -9 "$MOUNT_PID" 2>/dev/null
    wait "$MOUNT_PID" 2>/dev/null
    MOUNT_PID=
}

# A cold mount: a new daemon, no kernel caches for it; the server keeps running.
remount_ws() { unmount_ws && mount_ws; }

server_pid() { cat "$DATA/server.pid" 2>/dev/null; }

# mem_kib PID FIELD: VmRSS or VmHWM of PID in KiB (empty when gone).
mem_kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null; }

# time_into FILE CMD...: run CMD (its output thrown away) and append the seconds it took to FILE.
time_into() {
    local file=$1 t0 t1 rc
    shift
    t0=$(now_us)
    "$@" >/dev/null 2>>"$ERR"
    rc=$?
    t1=$(now_us)
    printf '%d.%06d\n' $(((t1 - t0) / 1000000)) $(((t1 - t0) % 1000000)) >> "$file"
    return $rc
}

row() { "$PY" "$HELP/row.py" "$1" "$ROWS" "${@:2}"; }

# skip_rows SECTION REASON WHAT...: rows that could not be measured, each with the reason (a row written
# already, before its helper failed, stays as it is).
skip_rows() {
    local section=$1 reason=$2 what
    shift 2
    for what in "$@"; do
        grep -qF "\"what\": \"$what\"" "$ROWS" && continue
        row skip --section "$section" --what "$what" --reason "$reason"
    done
}

# attempt SECTION WHAT-LIST CMD...: run CMD; when it fails, the rows it would have written are skipped
# with its last line of errors as the reason (WHAT-LIST: the rows' names separated by ';').
attempt() {
    local section=$1 whats=$2 reason
    shift 2
    : > "$ERR"
    "$@" 2>>"$ERR" && return 0
    reason=$(grep -v '^\s*$' "$ERR" | tail -1)
    [ -n "$reason" ] || reason="$1 failed"
    local IFS=';'
    # shellcheck disable=SC2086
    skip_rows "$section" "$reason" $whats
    return 1
}

# Progress goes to fd 3 (the terminal's stderr), which attempt's capture of errors leaves alone.
exec 3>&2
say() { echo "  $*" >&3; }
note() { echo "$*" >> "$NOTES"; say "note: $*"; }

# submit EXPERIMENT: job.yaml from stdin through the mount; prints the run id.
submit() {
    local line
    cat > "$MNT/experiments/$1/job.yaml" || return 1
    line=$(cat "$MNT/experiments/$1/status")
    case "$line" in
        submitted\ *) line=${line#submitted }; echo "${line%% *}" ;;
        *) echo "submission refused: $line" >&2; return 1 ;;
    esac
}

host_job() { printf 'command: "%s"\nenvironment: azureml:host@latest\ncompute: azureml:%s\n' "$1" "${2:-local}"; }

BENCH_T0=$(now_us)
CUR_SECTION=start
PEAK_WHERE=
section() {
    mount_peak_sample
    CUR_SECTION=$*
    printf '[%4d s] %s\n' $((($(now_us) - BENCH_T0) / 1000000)) "$*" >&3
}

# The supervisors (and their jobs) of runs that have not ended were started by this bench's server: end
# them by their recorded pids, each checked to be the supervisor of that run (a pid may have been reused).
stop_runs() {
    local d pid rest cmd
    for d in "$DATA"/runs/*/; do
        if [ ! -f "$d/supervisor.pid" ] || [ -f "$d/exit.json" ]; then continue; fi
        read -r pid rest < "$d/supervisor.pid" || continue
        if [ -z "$pid" ] || [ ! -r "/proc/$pid/cmdline" ]; then continue; fi
        cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)
        [[ $cmd == *supervise*"${d%/}"* ]] && kill -TERM "$pid" 2>/dev/null
    done
    return 0
}

stop_server() {
    local pid
    pid=$(server_pid) || return 0
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    wait_for 10 sh -c "! kill -0 $pid 2>/dev/null" || kill -9 "$pid" 2>/dev/null
    return 0
}

cleanup() {
    local pid t0 times=""
    section "teardown"
    for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    t0=$(now_us)
    unmount_ws
    times+=" mount $((($(now_us) - t0) / 1000)) ms,"
    t0=$(now_us)
    stop_runs
    stop_server
    times+=" server $((($(now_us) - t0) / 1000)) ms,"
    t0=$(now_us)
    [ "$SLURM_STARTED" = 1 ] && slurm_stop
    [ "$REF_LOOP" = 1 ] && { umount "$REFMNT" 2>/dev/null || umount -l "$REFMNT" 2>/dev/null; }
    rm -rf "$T"
    times+=" files $((($(now_us) - t0) / 1000)) ms"
    printf '[%4d s] torn down (%s)\n' $((($(now_us) - BENCH_T0) / 1000000)) "${times# }" >&3
}
trap cleanup EXIT
trap 'exit 130' INT TERM
