#!/usr/bin/env bash
# test_distributed.sh: distributed runs on the local compute: a real two-process data-parallel step
# (Debian's torch, gloo, DistributedDataParallel), the variables mpi and tensorflow read, one log with
# each line's rank and per-rank logs under runs/ID/logs/, and a failing rank failing the run.
. "$(dirname "$0")/../lib/e2e.sh"

t_torch_ddp_two_ranks_all_reduce() {
    mkdir "$MNT/environments/torch-host" "$MNT/experiments/ddp"
    cp "$ROOT/examples/ddp/environment.yaml" "$MNT/environments/torch-host/" || fail "environment"
    cp "$ROOT/examples/ddp/train_ddp.py" "$MNT/experiments/ddp/" || fail "code"
    id=$(submit ddp < "$ROOT/examples/ddp/job.yaml") || fail "submit"
    wait_status 120 "$MNT/runs/$id/status" Completed ||
        fail "status: $(cat "$MNT/runs/$id/status"): $(cat "$MNT/runs/$id/log")"
    log=$(cat "$MNT/runs/$id/log")
    echo "$log" | grep -q '^\[rank 0\] rank 0 of 2' || fail "rank 0's lines: $log"
    echo "$log" | grep -q '^\[rank 1\] rank 1 of 2' || fail "rank 1's lines: $log"
    echo "$log" | grep -q '^\[rank 1\] rank 1: all-reduce of rank+1 = 3.0 (expected 3.0)' || fail "all-reduce: $log"
    echo "$log" | grep -q "averaged gradient equals the full batch's: True" || fail "gradients: $log"
    grep -q '"gradients_match": true' "$MNT/runs/$id/outputs/step.json" || fail "outputs/step.json"
    for r in 0 1; do
        grep -q "^rank $r of 2" "$MNT/runs/$id/logs/std_log_process_$r.txt" ||
            fail "per-rank log $r: $(ls "$MNT/runs/$id/logs/")"
    done
}

t_mpi_and_tensorflow_ranks_get_their_variables() {
    mkdir "$MNT/experiments/vars"
    id=$(submit vars <<'Y'
command: 'echo "mpi $OMPI_COMM_WORLD_RANK/$OMPI_COMM_WORLD_SIZE local $OMPI_COMM_WORLD_LOCAL_RANK pmi $PMI_RANK/$PMI_SIZE rank $RANK"'
environment: azureml:host@latest
distribution:
  type: mpi
  process_count_per_instance: 3
Y
) || fail "submit mpi"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "mpi: $(cat "$MNT/runs/$id/status")"
    for r in 0 1 2; do
        grep -qx "\[rank $r\] mpi $r/3 local $r pmi $r/3 rank $r" "$MNT/runs/$id/log" || fail "mpi rank $r: $(cat "$MNT/runs/$id/log")"
    done
    id=$(submit vars <<'Y'
command: /usr/bin/python3 -c 'import json, os; c = json.loads(os.environ["TF_CONFIG"]); print(len(c["cluster"]["worker"]), c["task"]["type"], c["task"]["index"])'
environment: azureml:host@latest
distribution:
  type: tensorflow
  worker_count: 2
Y
) || fail "submit tensorflow"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "tf: $(cat "$MNT/runs/$id/status")"
    grep -qx '\[rank 0\] 2 worker 0' "$MNT/runs/$id/log" && grep -qx '\[rank 1\] 2 worker 1' "$MNT/runs/$id/log" ||
        fail "TF_CONFIG: $(cat "$MNT/runs/$id/log")"
}

t_one_failing_rank_fails_the_run() {
    mkdir "$MNT/experiments/rankfail"
    id=$(submit rankfail <<'Y'
command: 'if [ "$RANK" = 1 ]; then echo giving up; exit 3; fi; sleep 120'
environment: azureml:host@latest
distribution:
  type: pytorch
  process_count_per_instance: 2
Y
) || fail "submit"
    wait_status 30 "$MNT/runs/$id/status" Failed || fail "status: $(cat "$MNT/runs/$id/status")"
    grep -q '"exit_code": 3' "$MNT/runs/$id/info.json" || fail "exit code: $(cat "$MNT/runs/$id/info.json")"
    grep -q 'rank 1 of 2 exited with code 3' "$MNT/runs/$id/info.json" || fail "error: $(cat "$MNT/runs/$id/info.json")"
    grep -qx '\[rank 1\] giving up' "$MNT/runs/$id/log" || fail "log"
}

t_distributed_in_a_container_image_is_refused_at_submission() {
    mkdir "$MNT/experiments/ctr"
    r=$(write_spec "$MNT/experiments/ctr/job.yaml" <<'Y'
command: python train.py
environment:
  image: localhost/trainer:1
distribution:
  type: pytorch
  process_count_per_instance: 2
Y
)
    [ "$r" = EINVAL ] || fail "close: $r"
    grep -q "distributed runs (2 processes) in a container image are not supported yet" "$MNT/experiments/ctr/status" ||
        fail "status: $(cat "$MNT/experiments/ctr/status")"
}

mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_host_env host || { echo "0 passed, 1 failed"; exit 1; }
run_cases
