#!/usr/bin/env bash
# test_network.sh: amlfs-server on the network (issue 11, item 7): --listen over TLS with a certificate
# the mount checks (--tls-ca), and idle half-sent requests that cannot lock out an authenticated client.
. "$(dirname "$0")/../lib/e2e.sh"

# The cases mount by hand (in their subshell, where mount_ws's bookkeeping does not reach cleanup).
test_cleanup() {
    mountpoint -q "$MNT" && fusermount3 -u "$MNT"
    return 0
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

t_a_tls_listener_serves_the_mount_and_its_certificate_is_checked() {
    (cd "$T" && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 -subj /CN=localhost \
        -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" >/dev/null 2>&1) || fail "openssl"
    port=$(free_port)
    "$AMLFS_SERVER" --data-dir "$DATA" --listen "127.0.0.1:$port" --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" ||
        fail "the server did not start"
    "$AMLFS" --server "https://127.0.0.1:$port" --token-file "$DATA/token" "$MNT" 2>"$T/err" && {
        fusermount3 -u "$MNT"; fail "mounted without checking the certificate"; }
    grep -q "SSL certificate problem.*--tls-ca" "$T/err" || fail "why: $(cat "$T/err")"
    "$AMLFS" --server "https://127.0.0.1:$port" --token-file "$DATA/token" --tls-ca "$T/cert.pem" "$MNT" 2>"$T/err" ||
        fail "mount over TLS: $(cat "$T/err")"
    mkdir "$MNT/experiments/over-tls" && [ -d "$DATA/experiments/over-tls" ] || { fusermount3 -u "$MNT"; fail "mkdir over TLS"; }
    fusermount3 -u "$MNT" || fail "unmount"
    [ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/workspace")" != 200 ] ||
        fail "plain HTTP was answered on the TLS port"
    "$AMLFS_SERVER" --data-dir "$T/x" --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" 2>"$T/err2"
    [ $? = 2 ] && grep -q -- "--tls-cert and --tls-key go together, with --listen" "$T/err2" || fail "TLS without --listen"
}

# 300 connections from another address (127.0.0.2) that send half a request and go silent held a thread
# each until a 120 s timeout, and authenticated requests were reset meanwhile.
t_idle_half_requests_neither_pile_up_threads_nor_lock_out_a_client() {
    port=$(free_port)
    # Its output to files: a background process holding the case's output pipe would keep the case open.
    "$AMLFS_SERVER" --foreground --data-dir "$T/plain" --listen "127.0.0.1:$port" >"$T/plain.log" 2>&1 &
    PLAIN_PID=$!
    spawned "$PLAIN_PID"
    wait_for 10 test -S "$T/plain/server.sock" || fail "server: $(cat "$T/plain.log")"
    python3 - "$port" "$T/held" >/dev/null 2>&1 <<'PY' &
import socket, sys, time
port, flag = int(sys.argv[1]), sys.argv[2]
held = []
for _ in range(300):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /v1/workspace HTTP/1.1\r\nHost: x\r\n")
        held.append(s)
    except OSError:
        pass
open(flag, "w").write(str(len(held)))
deadline = time.time() + 40
while held and time.time() < deadline:  # until the server has closed every one
    for s in list(held):
        s.settimeout(0.05)
        try:
            if s.recv(1) == b"":
                held.remove(s)
        except socket.timeout:
            pass
        except OSError:
            held.remove(s)
open(flag + ".left", "w").write(str(len(held)))
PY
    attacker=$!
    spawned "$attacker"
    wait_for 20 test -s "$T/held" || { kill $attacker; fail "the connections were not made"; }
    code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$T/plain/token")" \
        "http://127.0.0.1:$port/v1/workspace")
    [ "$code" = 200 ] || { kill $attacker; fail "an authenticated request got $code with $(cat "$T/held") idle connections"; }
    threads=$(awk '/^Threads:/ {print $2}' "/proc/$PLAIN_PID/status")
    [ "$threads" -lt 100 ] || { kill $attacker; fail "$threads threads for idle connections"; }
    wait_for 40 test -s "$T/held.left" || { kill $attacker; fail "the idle connections were not closed"; }
    wait "$attacker"
    [ "$(cat "$T/held.left")" = 0 ] || fail "$(cat "$T/held.left") idle connections were still open after 40 s"
    kill "$PLAIN_PID" && wait "$PLAIN_PID"
}

# A client that sends its headers one byte a second was never idle long enough for the idle timeout: it
# held its thread (and a slot of its address) for as long as it kept dripping. And a body announced by an
# unauthenticated request was waited for before the 401.
t_headers_dripped_a_byte_a_second_are_cut_and_no_body_is_awaited_before_a_401() {
    port=$(free_port)
    "$AMLFS_SERVER" --foreground --data-dir "$T/drip" --listen "127.0.0.1:$port" >"$T/drip.log" 2>&1 &
    spawned $!
    wait_for 10 test -S "$T/drip/server.sock" || fail "server: $(cat "$T/drip.log")"
    python3 - "$port" "$T/dripped" >/dev/null 2>&1 <<'PY' &
import socket, sys, time
port, out = int(sys.argv[1]), sys.argv[2]
conns, cut = [], {}
start = time.time()
for i in range(20):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /v1/workspace HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    conns.append(s)
open(out + ".started", "w").write("")
while len(cut) < len(conns) and time.time() - start < 30:
    for i, s in enumerate(conns):
        if i in cut:
            continue
        try:
            s.sendall(b"a")
        except OSError:
            cut[i] = time.time() - start
    time.sleep(1)
open(out, "w").write("%d %d" % (len(cut), max(cut.values()) if cut else 0))
PY
    dripper=$!
    spawned $dripper
    wait_for 10 test -e "$T/dripped.started" || fail "the dripping clients did not connect"
    code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$T/drip/token")" \
        "http://127.0.0.1:$port/v1/workspace")
    [ "$code" = 200 ] || fail "an authenticated request got $code while 20 clients dripped their headers"
    wait_for 40 test -s "$T/dripped" || fail "no result from the dripping clients"
    read -r n secs < "$T/dripped"
    [ "$n" = 20 ] && [ "$secs" -le 10 ] || fail "$n of 20 dripping clients cut (the last after $secs s)"
    # Headers announcing 100 MB without a token: the 401 comes at once, no byte of the body awaited.
    python3 - "$port" > "$T/early" 2>&1 <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"PUT /v1/experiments/x/files/big HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
s.settimeout(5)
t = time.time()
try:
    print(s.recv(100).split(b"\r\n")[0].decode(), "after %.1f s" % (time.time() - t))
except socket.timeout:
    print("no answer in 5 s")
PY
    grep -q "^HTTP/1.1 401 .* after [0-2]\." "$T/early" || fail "unauthenticated upload: $(cat "$T/early")"
}

command -v openssl >/dev/null || { echo "FAIL openssl is not installed (make test installs it)"; echo "0 passed, 1 failed"; exit 1; }
run_cases
