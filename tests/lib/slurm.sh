# slurm.sh: a private one-node Slurm cluster (munged, slurmctld, slurmd) plus slurmrestd, for tests.
# Source it; slurm_start DIR brings it up under DIR, slurm_stop ends exactly what slurm_start started.
#
# Everything lives under DIR (config, state, spool, pid files, logs, munge socket and key, JWT key) and
# every port is picked free at start, so a test cluster never touches /etc/slurm, /run/munge or another
# cluster that may be running on the same machine. Written for callers that use `set -u` but not `set -e`.
#
# Functions: slurm_available, slurm_start DIR, slurm_stop, slurmrestd_stop, slurmrestd_start,
# slurmctld_stop, slurmctld_start. SLURM_MEMORY_ENFORCE=poll|cgroup (before slurm_start) picks how job
# memory limits are enforced; see _slurm_memory_conf.
# After slurm_start these are exported:
#   SLURM_DIR SLURM_CONF SLURM_REST_URL SLURM_TOKEN_FILE SLURM_USER SLURM_PARTITION
#   (and SLURM_REST_PORT, SLURM_NODE). SLURM_CONF being exported also points scontrol/squeue/sinfo at it.

# Program paths: Debian installs the daemons in /usr/sbin, which a non-login PATH may lack.
_slurm_sbin() { command -v "$1" 2>/dev/null || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; }; }

# slurm_available: 0 when every program and plugin a cluster needs is installed and we are root.
# Otherwise prints why on stderr (tests print it as their skip reason) and returns 1.
slurm_available() {
    local p
    SLURM_UNAVAILABLE_REASON=
    for p in munged mungekey slurmctld slurmd slurmrestd slurmstepd scontrol sinfo squeue scancel; do
        if [ -z "$(_slurm_sbin "$p")" ]; then
            SLURM_UNAVAILABLE_REASON="$p is not installed (apt-get install slurm-wlm slurmrestd slurm-wlm-jwt-plugin munge)"
            break
        fi
    done
    # The JWT plugins come in their own package; slurmrestd is useless to us without them.
    if [ -z "$SLURM_UNAVAILABLE_REASON" ] && ! compgen -G '/usr/lib/*/slurm*/auth_jwt.so' >/dev/null &&
        ! compgen -G '/usr/lib*/slurm*/auth_jwt.so' >/dev/null; then
        SLURM_UNAVAILABLE_REASON="Slurm JWT plugin missing (apt-get install slurm-wlm-jwt-plugin)"
    fi
    # slurmd must be root to start jobs as their user and slurmrestd needs root to drop to nobody.
    if [ -z "$SLURM_UNAVAILABLE_REASON" ] && [ "$(id -u)" != 0 ]; then
        SLURM_UNAVAILABLE_REASON="a test Slurm cluster needs root"
    fi
    if [ -n "$SLURM_UNAVAILABLE_REASON" ]; then
        echo "slurm unavailable: $SLURM_UNAVAILABLE_REASON" >&2
        return 1
    fi
    return 0
}

# _slurm_wait SECONDS CMD...: run CMD every 0.1 s until it succeeds; 1 when the deadline passes.
_slurm_wait() {
    local deadline
    deadline=$(( $(date +%s%N) / 1000000 + $1 * 1000 ))
    shift
    while ! "$@" >/dev/null 2>&1; do
        [ $(( $(date +%s%N) / 1000000 )) -ge "$deadline" ] && return 1
        sleep 0.1
    done
    return 0
}

# A pid counts as alive only if it is not a zombie: pid 1 reaps our daemons' orphans, but not instantly.
_slurm_alive() {
    local st
    [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$st" ] && [ "$st" != Z ]
}
_slurm_dead() { ! _slurm_alive "$1"; }

# True when the pid in FILE is alive and is the program NAME (pid files can outlive their daemon
# and the pid can be reused: never signal a process that is not ours).
_slurm_pidfile_is() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && _slurm_alive "$pid" || return 1
    case "$(cat "/proc/$pid/comm" 2>/dev/null)" in
        "$2"*) return 0 ;;
    esac
    return 1
}

# _slurm_kill PIDFILE NAME: SIGTERM, wait up to 10 s for exit, then SIGKILL. Quiet when nothing to do.
_slurm_kill() {
    local pid
    _slurm_pidfile_is "$1" "$2" || { rm -f "$1"; return 0; }
    pid=$(cat "$1")
    kill -TERM "$pid" 2>/dev/null
    if ! _slurm_wait 10 _slurm_dead "$pid"; then
        echo "slurm: $2 ($pid) ignored SIGTERM for 10 s, killing it" >&2
        kill -KILL "$pid" 2>/dev/null
        _slurm_wait 5 _slurm_dead "$pid"
    fi
    rm -f "$1"
}

# A TCP port nobody uses on any address, in any state: read from /proc so no tool is needed.
_slurm_port_used() {
    local hex
    hex=$(printf '%04X' "$1")
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v h="$hex" 'NR>1 { split($2, a, ":"); if (a[2] == h) f=1 } END { exit !f }'
}
# Below the kernel's ephemeral range (32768+) so an outgoing connection cannot take it meanwhile.
_slurm_free_port() {
    local p _
    for _ in $(seq 200); do
        p=$(( 20000 + RANDOM % 12000 ))
        case " ${_SLURM_PORTS_TAKEN:-} " in *" $p "*) continue ;; esac
        if ! _slurm_port_used "$p"; then
            _SLURM_PORTS_TAKEN="${_SLURM_PORTS_TAKEN:-} $p"
            echo "$p"
            return 0
        fi
    done
    return 1
}

# The node is usable once slurmctld has heard from slurmd.
_slurm_node_idle() { [ "$(sinfo -h -o %T 2>/dev/null)" = idle ]; }

# slurm_start DIR: start the cluster and slurmrestd under DIR (created if missing). 0 when the REST
# API answers a ping with a token; otherwise stops whatever it started, says why, and returns 1.
slurm_start() {
    local dir=${1:?slurm_start DIR}
    slurm_available || return 1
    mkdir -p "$dir" || return 1
    dir=$(cd "$dir" && pwd)
    # A unix socket path must fit in 108 bytes.
    if [ ${#dir} -gt 80 ]; then
        echo "slurm_start: $dir is too long a path for munged's socket" >&2
        return 1
    fi
    # munged wants every directory above its socket searchable by all, and slurmrestd (as nobody) must
    # reach slurm.conf: say which parent is closed instead of failing later with a munged log line.
    local up=$dir
    while up=$(dirname "$up"); [ "$up" != / ]; do
        if [ "$(( 0$(stat -c %a "$up") & 1 ))" = 0 ]; then
            echo "slurm_start: $up is not searchable by others (chmod o+x it, or 755 a mktemp -d dir)" >&2
            return 1
        fi
    done
    # Two clusters in one DIR would share pid files: refuse rather than lose track of one.
    if _slurm_pidfile_is "$dir/run/munged.pid" munged || _slurm_pidfile_is "$dir/run/slurmctld.pid" slurmctld; then
        echo "slurm_start: a cluster is already running in $dir" >&2
        return 1
    fi
    SLURM_DIR=$dir
    _SLURM_PORTS_TAKEN=
    # munged insists every directory above its socket is searchable by all; slurmrestd runs as nobody
    # and must read slurm.conf. Secrets are in the 700 munge/ dir and in 600 files.
    chmod 755 "$dir"
    mkdir -p "$dir/etc" "$dir/run" "$dir/log" "$dir/state" "$dir/spool" "$dir/munge"
    chmod 755 "$dir/etc" "$dir/run" "$dir/log"
    chmod 700 "$dir/munge" "$dir/state" "$dir/spool"

    local node ctld_port slurmd_port rest_port cpus mem
    node=$(hostname -s)
    # Slurm looks up the node's name; a container's hostname often resolves to nothing.
    if ! getent hosts "$node" >/dev/null 2>&1; then
        echo "127.0.1.1 $node" >> /etc/hosts
    fi
    if ! { ctld_port=$(_slurm_free_port) && slurmd_port=$(_slurm_free_port) && rest_port=$(_slurm_free_port); }; then
        echo "slurm_start: no free port" >&2
        return 1
    fi
    cpus=$(nproc)
    mem=$("$(_slurm_sbin slurmd)" -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    [ -n "$mem" ] || mem=2000
    # 85%: slurmd marks the node invalid if the configured memory exceeds what it finds at boot.
    mem=$(( mem * 85 / 100 ))

    # 32 random bytes for JWT, secret: slurmctld signs and checks tokens with it.
    if [ ! -s "$dir/jwt.key" ]; then
        (umask 077; head -c 32 /dev/urandom > "$dir/jwt.key")
    fi
    chmod 600 "$dir/jwt.key"
    if [ ! -s "$dir/munge/munge.key" ]; then
        mungekey -c -k "$dir/munge/munge.key" >/dev/null 2>&1 ||
            (umask 077; head -c 1024 /dev/urandom > "$dir/munge/munge.key")
    fi
    chmod 600 "$dir/munge/munge.key"

    SLURM_CONF=$dir/etc/slurm.conf
    rm -f "$dir/etc/cgroup.conf" "$dir/run/cgroup-ours"
    if [ "${SLURM_MEMORY_ENFORCE:-poll}" = cgroup ]; then
        # Only cgroups this cluster creates are removed by slurm_stop.
        if [ -n "$(_slurm_cgroup_dirs "$node")" ]; then
            echo "slurm_start: Slurm cgroups for node $node exist already (another cluster?)" >&2
            return 1
        fi
        echo "$node" > "$dir/run/cgroup-ours"
    fi
    cat > "$SLURM_CONF" <<EOF
# Written by tests/lib/slurm.sh for a private test cluster; everything lives under $dir.
ClusterName=amlfstest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
# Our own munged, on our own socket (cred/munge reads the same AuthInfo).
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/run/munge.socket
# JWT for slurmrestd; slurmctld must be (re)started, not reconfigured, to take it.
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$dir/jwt.key
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
$(_slurm_memory_conf)
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
AccountingStorageType=accounting_storage/none
# Finished jobs stay readable after MinJobAge in this file (sacct -c).
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
SchedulerType=sched/backfill
# Submitted jobs are otherwise started on a 3 s tick; with 0 they start on slurmctld's 1 s tick.
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default every job would take the whole node's memory and jobs would run one at a time.
DefMemPerCPU=1000
# Finished jobs stay visible to squeue and REST for 5 minutes.
MinJobAge=300
# Seconds between SIGTERM and SIGKILL on cancel and time-out (default 30): short so tests are quick.
KillWait=5
# A restarted slurmd brings its node back by itself.
ReturnToService=2
MpiDefault=none
SwitchType=switch/none
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
    chmod 644 "$SLURM_CONF"
    export SLURM_DIR SLURM_CONF
    SLURM_NODE=$node
    SLURM_REST_PORT=$rest_port
    SLURM_REST_URL=http://127.0.0.1:$rest_port
    SLURM_TOKEN_FILE=$dir/token
    SLURM_USER=root
    SLURM_PARTITION=debug
    export SLURM_NODE SLURM_REST_PORT SLURM_REST_URL SLURM_TOKEN_FILE SLURM_USER SLURM_PARTITION

    # munged: daemonizes and writes its pid file before answering on its socket.
    "$(_slurm_sbin munged)" --socket="$dir/run/munge.socket" --key-file="$dir/munge/munge.key" \
        --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
        --seed-file="$dir/munge/munged.seed" || { _slurm_fail "munged did not start"; return 1; }
    _slurm_wait 10 test -S "$dir/run/munge.socket" || { _slurm_fail "munged socket missing"; return 1; }

    "$(_slurm_sbin slurmctld)" -f "$SLURM_CONF" || { _slurm_fail "slurmctld did not start"; return 1; }
    _slurm_wait 20 scontrol ping || { _slurm_fail "slurmctld does not answer"; return 1; }
    "$(_slurm_sbin slurmd)" -f "$SLURM_CONF" || { _slurm_fail "slurmd did not start"; return 1; }
    _slurm_wait 30 _slurm_node_idle || { _slurm_fail "node $node did not become idle"; return 1; }

    local tok
    tok=$(scontrol token username=root lifespan=86400 2>/dev/null | sed -n 's/^SLURM_JWT=//p')
    [ -n "$tok" ] || { _slurm_fail "scontrol token gave no token"; return 1; }
    (umask 077; printf '%s\n' "$tok" > "$SLURM_TOKEN_FILE")
    chmod 600 "$SLURM_TOKEN_FILE"

    slurmrestd_start || { _slurm_fail "slurmrestd did not start"; return 1; }
    return 0
}

# How job memory limits are enforced, chosen by SLURM_MEMORY_ENFORCE before slurm_start:
#  poll (default): no cgroups. Each second every step's RSS is read; a step over its job's memory is
#    SIGKILLed (within about 1 s). The job ends FAILED, reason JobLaunchFailure, exit_code 9, and its
#    stderr says "exceeded memory limit".
#  cgroup: cgroup v1 memory limits (kernel OOM killer). The job ends OUT_OF_MEMORY, reason OutOfMemory.
#    Needs cgroup v1 mounted at /sys/fs/cgroup; the cgroups are named after the node, so only one such
#    cluster per machine at a time. slurm_stop removes the cgroup directories it created.
_slurm_memory_conf() {
    if [ "${SLURM_MEMORY_ENFORCE:-poll}" = cgroup ]; then
        printf '%s\n' CgroupPlugin=cgroup/v1 CgroupMountpoint=/sys/fs/cgroup ConstrainRAMSpace=yes \
            ConstrainSwapSpace=yes AllowedSwapSpace=0 > "$SLURM_DIR/etc/cgroup.conf"
        echo "ProctrackType=proctrack/cgroup"
        echo "TaskPlugin=task/cgroup"
    else
        # No cgroups: proctrack/cgroup and task/cgroup leave directories in the host's hierarchy.
        echo "ProctrackType=proctrack/linuxproc"
        echo "TaskPlugin=task/none"
        echo "JobAcctGatherParams=OverMemoryKill"
    fi
}

# The cgroup directories Slurm makes for node NAME (cgroup mode), deepest first.
_slurm_cgroup_dirs() {
    local d
    for d in /sys/fs/cgroup/*/slurm_"$1"; do
        [ -d "$d" ] && find "$d" -depth -type d
    done
}

_slurm_fail() {
    echo "slurm_start: $1 (logs in ${SLURM_DIR:-?}/log)" >&2
    slurm_stop
}

_slurm_rest_ping() {
    curl -sf -m 2 -H "X-SLURM-USER-NAME: root" -H "X-SLURM-USER-TOKEN: $(cat "$SLURM_TOKEN_FILE")" \
        "$SLURM_REST_URL/slurm/v0.0.38/ping" | grep -q '"ping"'
}

# slurmrestd_start: (re)start slurmrestd on $SLURM_REST_PORT; 0 once it answers an authenticated ping.
slurmrestd_start() {
    local dir=${SLURM_DIR:?slurm_start first}
    _slurm_pidfile_is "$dir/run/slurmrestd.pid" slurmrestd && return 0
    # It refuses to run as root: it opens its socket as root, then drops to nobody. SLURM_JWT=daemon
    # makes it pass each request's own token on to slurmctld. Only the v0.0.38 plugin: the default set
    # includes the dbv* ones, which fail without slurmdbd. It does not daemonize: the subshell
    # leaves it a child of pid 1 so a caller's bare `wait` cannot hang on it.
    (
        SLURM_JWT=daemon "$(_slurm_sbin slurmrestd)" -f "$SLURM_CONF" \
            -a rest_auth/jwt -s openapi/v0.0.38 -u nobody "127.0.0.1:$SLURM_REST_PORT" \
            </dev/null >>"$dir/log/slurmrestd.log" 2>&1 &
        echo $! > "$dir/run/slurmrestd.pid"
    )
    if ! _slurm_wait 15 _slurm_rest_ping; then
        echo "slurmrestd_start: no answer on $SLURM_REST_URL (see $dir/log/slurmrestd.log)" >&2
        return 1
    fi
    return 0
}

# slurmrestd_stop: stop only slurmrestd (the cluster and its jobs go on).
slurmrestd_stop() {
    [ -n "${SLURM_DIR:-}" ] || return 0
    _slurm_kill "$SLURM_DIR/run/slurmrestd.pid" slurmrestd
}

# slurmctld_stop / slurmctld_start: restart the controller alone (running jobs survive it). While it is
# down every REST call takes about MessageTimeout (10 s) or twice that and then answers HTTP 500.
slurmctld_stop() {
    [ -n "${SLURM_DIR:-}" ] || return 0
    _slurm_kill "$SLURM_DIR/run/slurmctld.pid" slurmctld
}
slurmctld_start() {
    local dir=${SLURM_DIR:?slurm_start first}
    _slurm_pidfile_is "$dir/run/slurmctld.pid" slurmctld && return 0
    # No -c: it recovers its jobs from StateSaveLocation.
    "$(_slurm_sbin slurmctld)" -f "$SLURM_CONF" || return 1
    _slurm_wait 20 scontrol ping || { echo "slurmctld_start: no answer (see $dir/log/slurmctld.log)" >&2; return 1; }
}

# slurm_stop: end what slurm_start started, jobs first: a job's slurmstepd outlives slurmd, so jobs
# are cancelled and waited for while slurmctld and slurmd still run. Safe twice or after a failed start.
slurm_stop() {
    local dir=${SLURM_DIR:-}
    [ -n "$dir" ] && [ -d "$dir" ] || return 0
    slurmrestd_stop
    if _slurm_pidfile_is "$dir/run/slurmctld.pid" slurmctld && _slurm_pidfile_is "$dir/run/slurmd.pid" slurmd; then
        # Every job, whatever user it runs as (a root token can submit as anyone).
        local ids
        ids=$(SLURM_CONF=$dir/etc/slurm.conf squeue -h -o %A 2>/dev/null)
        # shellcheck disable=SC2086 # one argument per job id
        [ -n "$ids" ] && SLURM_CONF=$dir/etc/slurm.conf scancel $ids >/dev/null 2>&1
        # KillWait=5 bounds how long a job can take to die after the cancel.
        _slurm_wait 20 _slurm_no_steps "$dir"
    fi
    _slurm_kill "$dir/run/slurmd.pid" slurmd
    _slurm_kill_stray_steps "$dir"
    _slurm_kill "$dir/run/slurmctld.pid" slurmctld
    _slurm_kill "$dir/run/munged.pid" munged
    if [ -f "$dir/run/cgroup-ours" ]; then
        local d
        for d in $(_slurm_cgroup_dirs "$(cat "$dir/run/cgroup-ours")"); do
            rmdir "$d" 2>/dev/null
        done
        rm -f "$dir/run/cgroup-ours"
    fi
}

# The slurmstepd processes of this cluster: those holding a file under DIR open (their spool socket,
# the slurmd log). Other clusters' steps are left alone.
_slurm_steps() {
    local p f
    for p in $(pgrep -x slurmstepd 2>/dev/null); do
        for f in /proc/"$p"/fd/*; do
            case "$(readlink "$f" 2>/dev/null)" in
                "$1"/*) echo "$p"; break ;;
            esac
        done
    done
}
_slurm_no_steps() { [ -z "$(_slurm_steps "$1")" ]; }

# All descendants of a pid, deepest last (job processes under a slurmstepd).
_slurm_tree() {
    local c
    for c in $(pgrep -P "$1" 2>/dev/null); do
        echo "$c"
        _slurm_tree "$c"
    done
}

# Last resort when the cancel did not end them: kill the steps with their whole process trees.
_slurm_kill_stray_steps() {
    local p tree
    # shellcheck disable=SC2086 # $tree is a list of pids
    for p in $(_slurm_steps "$1"); do
        tree=$(_slurm_tree "$p")
        echo "slurm_stop: killing leftover slurmstepd $p and its processes" $tree >&2
        kill -STOP "$p" $tree 2>/dev/null
        kill -KILL "$p" $tree 2>/dev/null
    done
}
