# mlflow_api.sh: one MLflow tracking request from a test, as MLflow's Python client sends it (its JSON,
# its headers), to the server of the test's workspace ($DATA/mlflow.port). Source it after e2e.sh.

# mlflow_api METHOD ENDPOINT BODY TOKEN: prints "STATUS BODY" (a GET's BODY is its query string).
mlflow_api() {
    python3 - "$1" "$2" "$3" "$4" "$(cat "$DATA/mlflow.port")" <<'PY'
import sys, urllib.request, urllib.error
method, endpoint, body, token, port = sys.argv[1:6]
url = "http://127.0.0.1:%s/api/2.0/mlflow/%s" % (port, endpoint)
headers = {"Content-Type": "application/json", "User-Agent": "mlflow-python-client/2.16.0"}
if token:
    headers["Authorization"] = "Bearer " + token
data = body.encode() if method == "POST" else None
if method == "GET" and body:
    url += "?" + body
req = urllib.request.Request(url, data=data, method=method, headers=headers)
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
PY
}

owner_token() { cat "$DATA/token"; }
