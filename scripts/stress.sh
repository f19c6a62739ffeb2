#!/usr/bin/env bash
# stress.sh: `make stress`: the long fault and load checks, on loopback, each with a printed bound, each
# stopping by itself: a kill -9 loop during submissions (no acknowledged run lost or run twice), idle
# connections against a network listener, and submissions from many shells at once. Exit 1 on any miss.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
AMLFS=$BUILD/amlfs
SERVER=$BUILD/amlfs-server
KILLS=${STRESS_KILLS:-10}
SHELLS=${STRESS_SHELLS:-20}
PER_SHELL=${STRESS_PER_SHELL:-10}
IDLE=${STRESS_IDLE:-1000}
T=$(mktemp -d /tmp/amlfs-stress.XXXXXX)
DATA=$T/data MNT=$T/mnt
mkdir -p "$MNT"
failed=0
server_pid() { cat "$DATA/server.pid" 2>/dev/null; }
cleanup() {
    mountpoint -q "$MNT" && { fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"; }
    local pid
    pid=$(server_pid) && [ -n "$pid" ] && kill "$pid" 2>/dev/null
    [ -n "${PLAIN_PID:-}" ] && kill "$PLAIN_PID" 2>/dev/null
    for f in "$DATA"/runs/*/supervisor.pid; do
        [ -f "$f" ] && kill "$(cut -d' ' -f1 "$f")" 2>/dev/null
    done
    rm -rf --one-file-system "$T"
}
trap cleanup EXIT INT TERM
[ -n "${STRESS_KEEP:-}" ] && trap - EXIT
wait_for() { # SECONDS CMD...
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.05
    done
}
report() { # OK|FAIL WHAT DETAIL
    printf '%-4s %-62s %s\n' "$1" "$2" "$3"
    [ "$1" = ok ] || failed=1
}

"$AMLFS" --data-dir "$DATA" "$MNT" || { echo "the mount did not start"; exit 1; }
wait_for 10 test -f "$MNT/workspace.json"
mkdir "$MNT/environments/host" && printf 'name: host\n' > "$MNT/environments/host/environment.yaml"

# 1. kill -9 of the server at random moments while a shell submits: every submission close() accepted
#    must end Completed with its one line, exactly once.
mkdir "$MNT/experiments/killloop"
start=$SECONDS
acked=0
for k in $(seq 1 "$KILLS"); do
    for i in 1 2; do
        n=$((k * 10 + i))
        printf 'command: echo once-%s\nenvironment: host\n' "$n" > "$MNT/experiments/killloop/job.yaml" 2>/dev/null &&
            acked=$((acked + 1)) && echo "$n" >> "$T/acked"
    done
    pid=$(server_pid)
    kill -9 "$pid" 2>/dev/null
    wait_for 5 sh -c "! kill -0 $pid"
    "$SERVER" --data-dir "$DATA" || { report FAIL "kill loop: restart" "the server did not start again"; break; }
done
finished() { [ -z "$(grep -lvE 'Completed|Failed|Canceled' "$MNT"/experiments/killloop/runs/*_*/status 2>/dev/null)" ]; }
wait_for 120 finished
lost=0 twice=0
for n in $(cat "$T/acked" 2>/dev/null); do
    c=$(grep -lx "once-$n" "$MNT"/runs/killloop_*/log 2>/dev/null | wc -l)
    [ "$c" = 0 ] && lost=$((lost + 1))
    [ "$c" -gt 1 ] && twice=$((twice + 1))
done
failed_runs=$(grep -l Failed "$MNT"/experiments/killloop/runs/*_*/status 2>/dev/null | wc -l)
if [ "$lost" = 0 ] && [ "$twice" = 0 ] && [ "$failed_runs" = 0 ]; then
    report ok "kill -9 loop: $KILLS kills, $acked acknowledged submissions" "none lost, none twice, none Failed ($((SECONDS - start)) s; bound 180 s)"
else
    report FAIL "kill -9 loop: $KILLS kills, $acked acknowledged submissions" "$lost lost, $twice twice, $failed_runs Failed"
fi
[ $((SECONDS - start)) -le 180 ] || report FAIL "kill -9 loop time" "$((SECONDS - start)) s over 180 s"

# 2. submissions from many shells at once, each to its own experiment (as many users would): each close()
#    that succeeded is one run, of that text, that completes.
start=$SECONDS
for s in $(seq 1 "$SHELLS"); do
    mkdir "$MNT/experiments/load$s"
    (
        for i in $(seq 1 "$PER_SHELL"); do
            printf 'command: echo load-%s-%s\nenvironment: host\n' "$s" "$i" > "$MNT/experiments/load$s/job.yaml" 2>/dev/null &&
                echo ok >> "$T/load.$s"
        done
    ) &
done
wait
took=$((SECONDS - start))
accepted=$(cat "$T"/load.* 2>/dev/null | wc -l)
runs_done() { [ "$(grep -l Completed "$MNT"/runs/load*/status 2>/dev/null | wc -l)" -ge "$accepted" ]; }
wait_for 300 runs_done
done_n=$(grep -l Completed "$MNT"/runs/load*/status 2>/dev/null | wc -l)
distinct=$(cat "$MNT"/runs/load*/log 2>/dev/null | sort -u | wc -l)
if [ "$done_n" = "$accepted" ] && [ "$distinct" = "$accepted" ] && [ "$accepted" -gt 0 ]; then
    report ok "$SHELLS shells x $PER_SHELL submissions, an experiment each" "$accepted accepted in $took s, each run once and Completed (bound 300 s)"
else
    report FAIL "$SHELLS shells x $PER_SHELL submissions, an experiment each" "$accepted accepted, $done_n Completed, $distinct distinct"
fi

# 2b. several shells writing the SAME job.yaml at once: each close() that succeeded is one run of its text.
mkdir "$MNT/experiments/shared"
for s in $(seq 1 4); do
    ( for i in 1 2 3 4 5; do
        printf 'command: echo shared-%s-%s\nenvironment: host\n' "$s" "$i" > "$MNT/experiments/shared/job.yaml" 2>/dev/null &&
            echo ok >> "$T/shared.$s"
    done ) &
done
wait
shared_acked=$(cat "$T"/shared.* 2>/dev/null | wc -l)
shared_done() { [ -z "$(grep -lvE 'Completed|Failed|Canceled' "$MNT"/runs/shared_*/status 2>/dev/null)" ]; }
wait_for 120 shared_done
shared_distinct=$(cat "$MNT"/runs/shared_*/log 2>/dev/null | sort -u | wc -l)
shared_runs=$(ls -d "$MNT"/runs/shared_* 2>/dev/null | wc -l)
if [ "$shared_acked" -gt 0 ] && [ "$shared_distinct" = "$shared_acked" ] && [ "$shared_runs" = "$shared_acked" ]; then
    report ok "4 shells x 5 saves of one job.yaml at once" "$shared_acked accepted, each text run once (bound 120 s)"
else
    report FAIL "4 shells x 5 saves of one job.yaml at once" "$shared_acked accepted, $shared_runs runs, $shared_distinct distinct texts"
fi

# 3. idle half-sent requests against a network listener, then an authenticated request.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$SERVER" --foreground --data-dir "$T/net" --listen "127.0.0.1:$port" >"$T/net.log" 2>&1 &
PLAIN_PID=$!
wait_for 10 test -S "$T/net/server.sock"
result=$(python3 - "$port" "$IDLE" "$T/net/token" "$PLAIN_PID" <<'PY'
import socket, sys, time, urllib.request
port, count, token_file, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
held = []
for i in range(count):
    s = socket.socket()
    s.bind((f"127.0.{1 + i // 200}.{2 + i % 200}", 0))  # many addresses, as many clients would be
    try:
        s.connect(("127.0.0.1", port)); s.sendall(b"GET /v1/workspace HTTP/1.1\r\nHost: x\r\n"); held.append(s)
    except OSError:
        s.close()
threads = int([l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("Threads:")][0])
req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/workspace",
                             headers={"Authorization": "Bearer " + open(token_file).read().strip()})
t0 = time.time()
code = "none"
while time.time() - t0 < 15:  # past the listener's 10 s idle timeout the flood is gone
    try:
        code = urllib.request.urlopen(req, timeout=5).status
        break
    except Exception as e:
        code = type(e).__name__
        time.sleep(0.2)
print(f"{len(held)} {threads} {code} {time.time() - t0:.2f}")
PY
)
kill "$PLAIN_PID" 2>/dev/null; wait "$PLAIN_PID" 2>/dev/null; PLAIN_PID=
read -r held threads code secs <<< "$result"
if [ "$code" = 200 ] && [ "$threads" -le 300 ] && [ "${secs%.*}" -le 12 ]; then
    report ok "$IDLE idle half-sent requests, then an authenticated one" "answered in $secs s (bound 12 s: the idle timeout) with $held held, $threads threads (bound 300)"
else
    report FAIL "$IDLE idle half-sent requests, then an authenticated one" "answer $code, $threads threads"
fi
[ "$failed" = 0 ] && echo "stress: all within bounds" || echo "stress: some out of bounds"
exit "$failed"
