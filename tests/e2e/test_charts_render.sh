#!/usr/bin/env bash
# test_charts_render.sh: the charts of the mount as a person sees them: runs/ID/metrics/NAME.svg and
# experiments/NAME/metrics/NAME.svg drawn by headless Chromium (tests/lib/chromium.sh), the screenshots
# looked at by tests/lib/png_look.py: not blank, nothing cut at the edges, each line's colour in the plot,
# each legend entry in its colour, tick labels apart. SHOTS=DIR keeps the screenshots to look at.
. "$(dirname "$0")/../lib/e2e.sh"
. "$ROOT/tests/lib/chromium.sh"

if why=$(chromium_missing); then
    echo "skipped: $why"
    echo "0 passed, 0 failed, $(declare -F | grep -c ' t_') skipped"
    exit 0
fi
mount_ws || exit 1
make_host_env host || exit 1
MLFLOW_CLIENT=$ROOT/tests/lib/mlflow_like.py

# look NAME SVG [--across]: SVG (on the mount) copied, drawn, looked at (tests/lib/png_look.py); the SVG
# and PNG stay in $T (and $SHOTS).
look() {
    cp "$2" "$T/$1.svg" || fail "cannot read $2"
    chromium_shot "$T/$1.svg" "$T/$1.png" || fail "chromium could not draw $1"
    [ -n "${SHOTS:-}" ] && mkdir -p "$SHOTS" && cp "$T/$1.svg" "$T/$1.png" "$SHOTS/"
    python3 "$ROOT/tests/lib/png_look.py" "$T/$1.svg" "$T/$1.png" ${3:-} || fail "$1 looks wrong (above)"
}

all_completed() { # EXPERIMENT COUNT
    [ "$(grep -l Completed "$MNT"/experiments/"$1"/runs/*_*/status 2>/dev/null | wc -l)" = "$2" ]
}

t_a_runs_chart_and_its_experiments_overlay_look_right() {
    mkdir "$MNT/experiments/curves"
    cp "$MLFLOW_CLIENT" "$MNT/experiments/curves/"
    for lr in 0.1 0.03 0.01; do
        values=$(python3 -c "import math; print(','.join('%.4f' % (0.1 + 2 * math.exp(-i * $lr / 2)) for i in range(200)))")
        printf 'command: python3 mlflow_like.py start param:lr:%s batch:loss:%s end\nenvironment: host\n' "$lr" "$values" |
            submit curves > /dev/null || fail "submit $lr"
    done
    wait_for 60 all_completed curves 3 || fail "runs did not complete: $(cat "$MNT"/experiments/curves/runs/*_*/status)"
    id=$(ls -d "$MNT"/experiments/curves/runs/*_* | head -1)
    id=${id##*/}
    look run "$MNT/runs/$id/metrics/loss.svg" --across
    grep -q '>step</text>' "$T/run.svg" || fail "the x axis is not in steps: $(grep -o '<text[^>]*font-size="12"[^>]*>[^<]*' "$T/run.svg")"
    look overlay "$MNT/experiments/curves/metrics/loss.svg" --across
    [ "$(grep -c 'stroke-width="2"' "$T/overlay.svg")" = 3 ] || fail "the legend has not 3 entries"
}

t_an_overlay_of_runs_with_and_without_steps_shows_each_over_time() {
    mkdir "$MNT/experiments/mixed"
    # One run with steps, 6 s apart; one that, like mlflow.log_metric without a step, logs every point at
    # step 0, 12 s apart. Both are drawn from their start over time, neither a vertical line at step 0.
    cat > "$MNT/experiments/mixed/log.py" <<'PY'
import json, os, sys
with open(os.environ["AMLFS_METRICS"], "a") as f:
    for i in range(50):
        if sys.argv[1] == "steps":
            f.write(json.dumps({"name": "acc", "value": i / 100, "step": i, "timestamp": 1700000000000 + 6000 * i}) + "\n")
        else:
            f.write(json.dumps({"name": "acc", "value": 0.5 + i / 100, "step": 0, "timestamp": 1700000000000 + 12000 * i}) + "\n")
PY
    printf 'command: python3 log.py steps\nenvironment: host\n' | submit mixed > /dev/null || fail "submit stepped"
    # Its id as submitted: two ids of the same second sort by their random part, not by order.
    nostep=$(printf 'command: python3 log.py none\nenvironment: host\n' | submit mixed) || fail "submit without steps"
    wait_for 60 all_completed mixed 2 || fail "runs did not complete: $(cat "$MNT"/experiments/mixed/runs/*_*/status)"
    look nostep "$MNT/runs/$nostep/metrics/acc.svg" --across
    grep -q '>minutes since 2023-11-14T22:13:20Z<' "$T/nostep.svg" ||
        fail "the x axis of a run without steps: $(grep -o '<text[^>]*font-size="12"[^>]*>[^<]*' "$T/nostep.svg")"
    look mixed "$MNT/experiments/mixed/metrics/acc.svg" --across
    grep -q ">minutes since each run&#39;s first point<" "$T/mixed.svg" ||
        fail "the x axis of the overlay: $(grep -o '<text[^>]*font-size="12"[^>]*>[^<]*' "$T/mixed.svg")"
}

# The chart layer's samples (tests/chart/chart_samples.c) at the edges a run rarely reaches: 10,000 points
# with spikes, 30 runs and 40 runs with long labels and one without data (the legend's "+N more"), a
# time axis, NaN among tiny values, a constant.
t_the_sample_charts_look_right() {
    "$BUILD/tests/chart_samples" "$T/samples" > /dev/null || fail "chart_samples failed"
    for name in loss overlay small time tiny huge constant one_point empty runs30 legend40; do
        look "sample-$name" "$T/samples/$name.svg"
    done
    grep -q '>+21 more<' "$T/sample-legend40.svg" || fail "legend40 does not say how many runs it leaves out"
}

run_cases
