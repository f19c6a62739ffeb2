#!/usr/bin/env bash
# demo_image.sh (make demo-image, not part of make test): a Debian base imported offline, a Dockerfile
# that installs scikit-learn built and followed live, the digits training inside the image, twice.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/lib/demo.sh"
demo_setup amlfs-demo-image
BASE=localhost/amlfs-demo/debian:bookworm

"$ROOT/scripts/deps.sh"
[ "$(id -u)" -eq 0 ] || { echo "demo-image runs rootful podman: run it as root" >&2; exit 1; }
if ! command -v debootstrap >/dev/null; then
    echo "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q install -y debootstrap >/dev/null
fi

# The base image, made without any image registry: a Debian root made by debootstrap from this
# machine's own package mirror, imported into podman. Kept in podman's storage for the next demo.
if podman image exists "$BASE"; then
    say "podman image exists $BASE      # made by an earlier demo"
else
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$mirror" ] || mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$mirror" ] || { echo "no Debian mirror found in /etc/apt: debootstrap needs one" >&2; exit 1; }
    run "debootstrap --variant=minbase bookworm $DEMO/rootfs $mirror > $DEMO/debootstrap.log"
    run "tar -C $DEMO/rootfs -cf $DEMO/rootfs.tar . && podman import -q $DEMO/rootfs.tar $BASE"
    rm -rf "$DEMO/rootfs" "$DEMO/rootfs.tar"
fi

run "$BUILD/amlfs --data-dir $DATA $MNT"
cd "$MNT"
run mkdir environments/sklearn-image
run cp "$ROOT/examples/digits-image/Dockerfile" environments/sklearn-image/
run cp "$ROOT/examples/digits-image/environment.yaml" environments/sklearn-image/   # starts the build
run cat environments/sklearn-image/status
say "tail -f environments/sklearn-image/build.log      # live, while podman builds"
follow_until environments/sklearn-image/build.log environments/sklearn-image/status Ready Failed
run cat environments/sklearn-image/status
grep -q '^Ready' environments/sklearn-image/status

run mkdir experiments/digits-image
run cp "$ROOT/examples/digits/train.py" experiments/digits-image/
run cp "$ROOT/examples/digits-image/job.yaml" experiments/digits-image/   # submits the run
run cat experiments/digits-image/status
run_dir=experiments/digits-image/runs/latest
say "tail -f $run_dir/log      # training inside the image, live"
follow_until "$run_dir/log" "$run_dir/status" Completed Failed Canceled
run cat "$run_dir/status"
run cat "$run_dir/info.json"
[ "$(cat "$run_dir/status")" = Completed ]

say "a second submission: the image is there, no build"
run cp "$ROOT/examples/digits-image/job.yaml" experiments/digits-image/
follow_until "$run_dir/log" "$run_dir/status" Completed Failed Canceled
run cat "$run_dir/status"
run "tail -n 2 environments/sklearn-image/build.log"
[ "$(cat "$run_dir/status")" = Completed ]
cd /
