# benchlib.py: what the bench's Python helpers share: the server's API over its unix socket (kept-alive),
# percentiles, a process's memory from /proc, page-cache eviction, and appending a row to the results.
import http.client
import json
import os
import socket


class Api:
    """A kept-alive HTTP/1.1 connection to amlfs-server's unix socket."""

    def __init__(self, sock_path):
        self.sock_path = sock_path
        self.conn = None

    def _connect(self):
        conn = http.client.HTTPConnection("localhost", timeout=120)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.sock_path)
        conn.sock = s
        self.conn = conn

    def request(self, method, path, body=None):
        """(status, bytes); JSON bodies are sent as JSON. One retry on a dropped keep-alive connection."""
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (0, 1):
            if self.conn is None:
                self._connect()
            try:
                self.conn.request(method, path, data, headers)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, ConnectionError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def json(self, method, path, body=None, ok=(200, 201, 202)):
        status, data = self.request(method, path, body)
        if status not in ok:
            raise RuntimeError(f"{method} {path}: HTTP {status}: {data[:300].decode(errors='replace')}")
        return json.loads(data) if data else None

    def all_runs(self):
        """Every run, following GET /v1/runs's pages."""
        runs, after = [], "0"
        while True:
            page = self.json("GET", f"/v1/runs?limit=5000&after={after}")
            runs += page["runs"]
            if not page.get("next"):
                return runs
            after = page["next"]


def pct(values, p):
    """The p-th percentile (nearest rank) of values; None for none."""
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def proc_mem_kib(pid):
    """{'VmRSS': KiB, 'VmHWM': KiB} of pid, or {} when it is gone."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(line.split()[1])
    except OSError:
        pass
    return out


def evict(paths):
    """Drop the page cache of these files (and of every file under these folders): written back first,
    then POSIX_FADV_DONTNEED. Only these files' pages: nothing else on the machine is touched."""
    def one(p):
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            return
        try:
            try:
                os.fdatasync(fd)
            except OSError:
                pass  # read-only mounts (FUSE outputs) refuse it; they have nothing dirty
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    for p in paths:
        if os.path.isdir(p) and not os.path.islink(p):
            for root, _dirs, files in os.walk(p):
                for name in files:
                    one(os.path.join(root, name))
        else:
            one(p)


def add_row(rows_file, **row):
    """Append one result row (a JSON line) to rows_file. Keys: what, section, amlfs, reference, ratio, goal,
    met, unit, skipped_reason, amlfs_p99, reference_p99, n, note."""
    base = {"what": "", "section": "", "amlfs": None, "reference": None, "ratio": None, "goal": "",
            "met": None, "unit": "", "skipped_reason": None, "amlfs_p99": None, "reference_p99": None,
            "n": None, "note": ""}
    base.update(row)
    with open(rows_file, "a") as f:
        f.write(json.dumps(base) + "\n")
