# http.sh: a web server of the test's own on loopback, for https:// inputs and data assets (plain http:
# the fetch code is the same): start_http sets $HTTP; stop_http ends it (by its pid). It serves the files
# of $T/www (with Last-Modified, so a second GET can answer 304); /close answers nothing and closes the
# connection; /hold makes $T/www/.held, then answers "held" once $T/www/.release exists (60 s at most). Its requests go to
# $T/www.log.
HTTP_PID=
start_http() {
    mkdir -p "$T/www"
    python3 - "$T/www" "$T/www.port" "$T/www.log" <<'PY' &
import http.server, os, socketserver, sys, time
root, port_file, log_file = sys.argv[1:4]
class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k):
        super().__init__(*a, directory=root, **k)
    def do_GET(self):
        if self.path == "/close":
            self.close_connection = True
            return
        if self.path == "/hold":
            open(os.path.join(root, ".held"), "w").close()
            deadline = time.monotonic() + 60
            while not os.path.exists(os.path.join(root, ".release")) and time.monotonic() < deadline:
                time.sleep(0.05)
            try:
                self.send_response(200)
                self.send_header("Content-Length", "5")
                self.end_headers()
                self.wfile.write(b"held\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server stopped asking (a canceled run, a server stopped)
            return
        super().do_GET()
    def log_message(self, fmt, *args):
        with open(log_file, "a") as f:
            f.write((fmt % args) + "\n")
with socketserver.TCPServer(("127.0.0.1", 0), Handler) as srv:
    with open(port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    srv.serve_forever()
PY
    HTTP_PID=$!
    wait_for 10 test -s "$T/www.port" || return 1
    HTTP=http://127.0.0.1:$(cat "$T/www.port")
}
stop_http() { [ -n "$HTTP_PID" ] && kill "$HTTP_PID" 2>/dev/null; HTTP_PID=; return 0; }
