# lib/demo.sh: what the demos share, sourced after they set ROOT: a workspace and mount of their own in
# a temp dir that is cleaned up on exit, and say/run/follow_until, which show each command as it runs.

# Sets BUILD, DEMO (/tmp/PREFIX.XXXXXX), DATA and MNT: a workspace of its own, so a demo never touches
# yours; everything it starts there is stopped and removed on exit, however the demo ends.
demo_setup() {
    BUILD=${BUILD:-$ROOT/build}
    DEMO=$(mktemp -d "/tmp/$1.XXXXXX")
    DATA=$DEMO/data
    MNT=$DEMO/mnt
    mkdir -p "$MNT"
    tail_pid=
    trap demo_cleanup EXIT
}

demo_cleanup() {
    [ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null || true
    fusermount3 -u "$MNT" 2>/dev/null || true
    if [ -f "$DATA/server.pid" ]; then kill "$(cat "$DATA/server.pid")" 2>/dev/null || true; fi
    rm -rf "$DEMO"
}

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; eval "$@"; }

# Follows FILE with tail -f until STATUS_FILE holds one of the words given.
follow_until() {
    local file=$1 status_file=$2
    shift 2
    tail -f "$file" &
    tail_pid=$!
    while ! grep -qE "^($(IFS='|'; echo "$*"))" "$status_file"; do sleep 0.5; done
    sleep 1.5 # tail -f looks once a second: let it print the last lines
    kill "$tail_pid"
    tail_pid=
}
