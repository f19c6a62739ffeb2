#!/usr/bin/env bash
# test_metrics_images.sh: a job in a container image logs metrics both ways: its AMLFS_METRICS file (the run
# folder's metrics/ is mounted at its own path) and MLflow's REST API at the MLFLOW_TRACKING_URI it is
# given, reached through the relay in the container's own network namespace (src/compute/relay.c), with
# and without the network (podman storage of the test's own, as test_images.sh).
. "$(dirname "$0")/../lib/e2e.sh"

. "$(dirname "$0")/../lib/podman.sh"
test_cleanup() { podman_cleanup; }

has_lines() { [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ]; }

# The job's command: one point each way (busybox wget makes the POST MLflow's client makes for
# log_metric), then what its network looks like. $1: a word for the points.
logging_command() {
    cat <<Y
command: >-
  echo '{"name": "file_$1", "value": 1}' >> "\$AMLFS_METRICS" &&
  wget -q -O- --header "Authorization: Bearer \$MLFLOW_TRACKING_TOKEN" --header "Content-Type: application/json"
  --post-data "{\"run_id\": \"\$MLFLOW_RUN_ID\", \"run_uuid\": \"\$MLFLOW_RUN_ID\", \"key\": \"api_$1\", \"value\": 0.5, \"timestamp\": 1700000000000, \"step\": 3}"
  "\$MLFLOW_TRACKING_URI/api/2.0/mlflow/runs/log-metric" && echo " logged" && ip -o link | cut -d: -f2
Y
}

t_a_container_job_with_the_network_logs_both_ways() {
    mkdir "$MNT/experiments/boxed"
    id=$( { logging_command net; echo "environment: azureml:bb@latest"; } | submit boxed) || fail "submit"
    wait_status 60 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status"); log: $(cat "$MNT/runs/$id/log")"
    grep -q "logged" "$MNT/runs/$id/log" || fail "log: $(cat "$MNT/runs/$id/log")"
    has_lines "$MNT/runs/$id/metrics/file_net" 1 || fail "AMLFS_METRICS from the container: $(ls "$MNT/runs/$id/metrics")"
    [ "$(cut -d' ' -f1-3 "$MNT/runs/$id/metrics/api_net")" = "3 0.5 1700000000000" ] || fail "MLflow from the container: $(cat "$MNT/runs/$id/log")"
    grep -q "tap0" "$MNT/runs/$id/log" || fail "no outbound interface (slirp4netns): $(cat "$MNT/runs/$id/log")"
    # The relay (and slirp4netns with it) ended with the run.
    relay=$(sed -n 's|.*namespace /proc/\([0-9]*\)/ns/net.*|\1|p' "$DATA/runs/$id/supervisor.log")
    [ -n "$relay" ] || fail "supervisor.log: $(cat "$DATA/runs/$id/supervisor.log")"
    kill -0 "$relay" 2>/dev/null && fail "the relay $relay outlived its run"
    return 0
}

t_a_container_job_without_the_network_still_reaches_mlflow_only() {
    mkdir "$MNT/experiments/sealed"
    id=$( { logging_command sealed; printf 'environment: azureml:bb@latest\nproperties:\n  amlfs.network: "false"\n'; } |
        submit sealed) || fail "submit"
    wait_status 60 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status"); log: $(cat "$MNT/runs/$id/log")"
    has_lines "$MNT/runs/$id/metrics/api_sealed" 1 || fail "MLflow from the sealed container: $(cat "$MNT/runs/$id/log")"
    has_lines "$MNT/runs/$id/metrics/file_sealed" 1 || fail "AMLFS_METRICS from the sealed container"
    [ "$(grep -c '^ ' "$MNT/runs/$id/log")" = 1 ] && grep -q '^ lo$' "$MNT/runs/$id/log" ||
        fail "the sealed container has more than loopback: $(cat "$MNT/runs/$id/log")"
    return 0
}

command -v podman >/dev/null || { echo "FAIL podman is not installed (make test installs it)"; echo "0 passed, 1 failed"; exit 1; }
mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_base_image || { echo "FAIL could not import a busybox base image"; echo "0 passed, 1 failed"; exit 1; }
mkdir "$MNT/environments/bb" && printf 'image: %s\n' "$BASE" > "$MNT/environments/bb/environment.yaml" &&
    wait_status 30 "$MNT/environments/bb/status" Ready || { echo "FAIL the image environment: $(cat "$MNT/environments/bb/status")"; echo "0 passed, 1 failed"; exit 1; }
run_cases
