# azurite.sh: Azurite (Azure Storage's emulator, blob service only) for tests: installed once from npm
# into a cache outside the working tree, started on a free loopback port, stopped by its pid.
#
# Source it (written for `set -u` without `set -e`). Functions: azurite_available, azurite_install,
# azurite_start DIR, azurite_stop. After azurite_start these are exported:
#   AZURITE_BLOB_URL  http://127.0.0.1:PORT/devstoreaccount1 (the account is part of the path)
#   AZURITE_ACCOUNT   devstoreaccount1
#   AZURITE_KEY       its published development key (base64), read from Azurite's own README
#   AZURITE_PID, AZURITE_PORT
# AZURITE_UNAVAILABLE_REASON says why when azurite_available or azurite_start fails (also on stderr).

# shellcheck shell=bash
AZURITE_VERSION=3.37.0
# One folder per version, kept between test runs; AMLFS_CACHE moves it.
AZURITE_HOME=${AMLFS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/amlfs}/azurite-$AZURITE_VERSION
AZURITE_BIN=$AZURITE_HOME/node_modules/.bin/azurite-blob

# Milliseconds on the monotonic-enough wall clock, for deadlines.
_azurite_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# _azurite_wait SECONDS CMD...: run CMD every 0.1 s until it succeeds; 1 when the deadline passes.
_azurite_wait() {
    local deadline
    deadline=$(( $(_azurite_ms) + $1 * 1000 ))
    shift
    while ! "$@" >/dev/null 2>&1; do
        [ "$(_azurite_ms)" -ge "$deadline" ] && return 1
        sleep 0.1
    done
    return 0
}

_azurite_unavailable() {
    AZURITE_UNAVAILABLE_REASON=$1
    echo "azurite unavailable: $1" >&2
    return 1
}

# azurite_available: 0 when node and npm are there (Azurite can be installed and run); otherwise says why.
azurite_available() {
    # shellcheck disable=SC2034 # read by the tests that source this
    AZURITE_UNAVAILABLE_REASON=
    command -v node >/dev/null 2>&1 || _azurite_unavailable "node is not installed (Node.js 18 or newer)" || return 1
    if [ ! -x "$AZURITE_BIN" ]; then
        command -v npm >/dev/null 2>&1 || _azurite_unavailable "npm is not installed (needed once to install azurite@$AZURITE_VERSION)" || return 1
    fi
    local major
    major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)
    [ -n "$major" ] && [ "$major" -ge 18 ] 2>/dev/null ||
        _azurite_unavailable "node $(node --version 2>/dev/null) is too old for Azurite (18 or newer)" || return 1
    return 0
}

# azurite_install: npm install azurite@VERSION into AZURITE_HOME unless it is there. A half-done install
# is never taken for a done one: it goes to a temporary folder renamed into place at the end, under a lock
# so two test runs do not install at once.
azurite_install() {
    [ -x "$AZURITE_BIN" ] && return 0
    azurite_available || return 1
    local parent tmp rc
    parent=$(dirname "$AZURITE_HOME")
    mkdir -p "$parent" || _azurite_unavailable "cannot create $parent" || return 1
    (
        flock -w 600 9 || { echo "azurite_install: $parent/azurite.lock is held for 10 min" >&2; exit 1; }
        [ -x "$AZURITE_BIN" ] && exit 0
        tmp=$(mktemp -d "$AZURITE_HOME.tmp.XXXXXX") || exit 1
        echo "installing azurite@$AZURITE_VERSION into $AZURITE_HOME (once)" >&2
        timeout 600 npm install --prefix "$tmp" --no-audit --no-fund --no-save --loglevel=error \
            "azurite@$AZURITE_VERSION" >"$tmp.log" 2>&1
        rc=$?
        if [ $rc -ne 0 ] || [ ! -x "$tmp/node_modules/.bin/azurite-blob" ]; then
            echo "npm install azurite@$AZURITE_VERSION failed (status $rc):" >&2
            tail -n 5 "$tmp.log" >&2
            rm -rf "$tmp" "$tmp.log"
            exit 1
        fi
        rm -f "$tmp.log"
        rm -rf "$AZURITE_HOME"
        mv "$tmp" "$AZURITE_HOME" && chmod 755 "$AZURITE_HOME"
    ) 9>"$parent/azurite.lock"
    [ -x "$AZURITE_BIN" ] || _azurite_unavailable "azurite@$AZURITE_VERSION could not be installed with npm" || return 1
    return 0
}

# A TCP port nobody uses on any address, in any state: read from /proc so no tool is needed.
_azurite_port_used() {
    local hex
    hex=$(printf '%04X' "$1")
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
        awk -v h="$hex" 'NR>1 { split($2, a, ":"); if (a[2] == h) f=1 } END { exit !f }'
}
# Below the kernel's ephemeral range (32768+) so an outgoing connection cannot take it meanwhile.
_azurite_free_port() {
    local p _
    for _ in $(seq 200); do
        p=$(( 20000 + RANDOM % 12000 ))
        _azurite_port_used "$p" || { echo "$p"; return 0; }
    done
    return 1
}

# Alive and not a zombie.
_azurite_alive() {
    local st
    [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$st" ] && [ "$st" != Z ]
}
_azurite_dead() { ! _azurite_alive "$1"; }

# Answers HTTP on the account's URL (an unsigned listing is refused with 403, as Azure does).
_azurite_answers() {
    local code
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$1/devstoreaccount1?comp=list") || return 1
    [ "$code" != 000 ]
}

# azurite_start DIR: Azurite's blob service with its data in DIR (created if missing), on a free loopback
# port. 0 once it answers; otherwise stops what it started, says why and returns 1.
azurite_start() {
    local dir=${1:?azurite_start DIR} key port started _
    azurite_install || return 1
    if [ -n "${AZURITE_PID:-}" ] && _azurite_alive "$AZURITE_PID"; then
        _azurite_unavailable "azurite_start: Azurite ($AZURITE_PID) is already running; azurite_stop first"
        return 1
    fi
    command -v curl >/dev/null 2>&1 || _azurite_unavailable "curl is not installed (apt-get install curl)" || return 1
    mkdir -p "$dir" || return 1
    dir=$(cd "$dir" && pwd)
    # The development key as Azurite publishes it, so it is never copied into this repository.
    key=$(grep -o 'AccountKey=[A-Za-z0-9+/=]*' "$AZURITE_HOME/node_modules/azurite/README.md" | head -n 1)
    key=${key#AccountKey=}
    [ -n "$key" ] || _azurite_unavailable "no AccountKey= in Azurite's README: cannot learn its key" || return 1
    # A port picked free can still be taken before Azurite binds it: try another then.
    for _ in 1 2 3; do
        port=$(_azurite_free_port) || _azurite_unavailable "no free TCP port" || return 1
        started=$(_azurite_ms)
        env -u AZURITE_ACCOUNTS "$AZURITE_BIN" --blobHost 127.0.0.1 --blobPort "$port" --location "$dir" \
            --skipApiVersionCheck --disableTelemetry >"$dir/azurite.log" 2>&1 </dev/null &
        AZURITE_PID=$!
        export AZURITE_PID
        if _azurite_wait 30 _azurite_answers "$port"; then
            AZURITE_PORT=$port
            AZURITE_ACCOUNT=devstoreaccount1
            AZURITE_KEY=$key
            AZURITE_BLOB_URL=http://127.0.0.1:$port/devstoreaccount1
            AZURITE_START_MS=$(( $(_azurite_ms) - started ))
            export AZURITE_PORT AZURITE_ACCOUNT AZURITE_KEY AZURITE_BLOB_URL AZURITE_START_MS
            return 0
        fi
        if _azurite_alive "$AZURITE_PID"; then
            azurite_stop
            _azurite_unavailable "Azurite did not answer on port $port within 30 s (see $dir/azurite.log)"
            return 1
        fi
        grep -q EADDRINUSE "$dir/azurite.log" 2>/dev/null || break
    done
    AZURITE_PID=
    _azurite_unavailable "Azurite exited at start: $(tail -n 3 "$dir/azurite.log" 2>/dev/null | tr '\n' ' ')"
    return 1
}

# azurite_stop: SIGTERM to the Azurite azurite_start started, SIGKILL if it has not gone within 10 s.
azurite_stop() {
    local pid=${AZURITE_PID:-}
    [ -n "$pid" ] || return 0
    AZURITE_PID=
    _azurite_alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
    kill -TERM "$pid" 2>/dev/null
    if ! _azurite_wait 10 _azurite_dead "$pid"; then
        echo "azurite ($pid) ignored SIGTERM for 10 s, killing it" >&2
        kill -KILL "$pid" 2>/dev/null
        _azurite_wait 5 _azurite_dead "$pid"
    fi
    wait "$pid" 2>/dev/null
    return 0
}
