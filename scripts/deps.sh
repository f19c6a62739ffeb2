#!/usr/bin/env bash
# deps.sh: install the Debian packages amlfs needs to build, run and test, when they are missing
# (--build-only: to build; --fuzz: to build and fuzz). As root it uses apt-get; otherwise it prints the
# one command a person should run.
set -euo pipefail

# Build: compiler, pkg-config and the -dev packages of every library amlfs links.
build_pkgs=(gcc make pkg-config libfuse3-dev fuse3 libcurl4-openssl-dev libcjson-dev libarchive-dev
            libyaml-dev libmicrohttpd-dev libsqlite3-dev libssl-dev libxml2-dev)
# Tests and the demo: real tools on a real mount, and a real training script's libraries.
test_pkgs=(vim tmux curl python3 python3-sklearn procps psmisc)
# File system semantics (tests/e2e/test_semantics.sh, test_editors.sh): the editors driven through tmux,
# the copy tools users reach for, and Debian's third-party checkers (fio's verify, stress-ng's stressors).
test_pkgs+=(nano emacs-nox rsync fio stress-ng)
# Image environments: rootful podman with runc (crun cannot run on cgroup v1 hosts), its overlay,
# network and init helpers (recommends of podman, named since recommends are not installed), and
# busybox-static for the tests' offline base image.
test_pkgs+=(podman runc fuse-overlayfs slirp4netns uidmap catatonit netavark aardvark-dns iptables
            busybox-static)
# The Slurm compute's tests: a one-node cluster with slurmrestd and its JWT auth (tests/lib/slurm.sh), and
# Debian's torch for a real two-process data-parallel step (gloo all-reduce).
test_pkgs+=(slurm-wlm slurmrestd slurm-wlm-jwt-plugin munge python3-torch)
# Manual pages rendered and checked by test_install.sh; openssl makes test_network.sh's certificate.
test_pkgs+=(groff-base man-db openssl)
# Charts checked as a person would see them (tests/chart/test_render.sh): Debian's chromium draws the
# SVGs headless to a PNG that the test inspects.
test_pkgs+=(chromium)

# make fuzz: clang and its runtime libraries (libFuzzer, ASan, UBSan).
fuzz_pkgs=(clang libclang-rt-dev)

want=("${build_pkgs[@]}")
case "${1:-}" in
--build-only) ;;
--fuzz) want+=("${fuzz_pkgs[@]}") ;;
*) want+=("${test_pkgs[@]}") ;;
esac

# Test services from npm, installed once into a cache outside the working tree that later runs reuse:
# Azurite, the Blob Storage emulator of tests/e2e/test_blob_client.sh (tests/lib/azurite.sh). Never fails
# the build: without node and npm (or the npm registry) those tests skip and say why.
npm_services() {
    [ "${1:-}" = "--build-only" ] || [ "${1:-}" = "--fuzz" ] && return 0
    local root
    root=$(cd "$(dirname "$0")/.." && pwd)
    bash -c '. "$1/tests/lib/azurite.sh" && azurite_install' _ "$root" ||
        echo "note: Azurite is not installed; the blob client's tests will skip" >&2
    return 0
}

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    npm_services "${1:-}"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "amlfs needs these Debian packages: ${missing[*]}" >&2
    echo "install them with:  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -o DPkg::Lock::Timeout=600 -q "$@"; }
# An old or empty package list cannot find anything: refresh it once.
apt_get update >/dev/null || { echo "apt-get update failed: check the package mirror" >&2; exit 1; }
apt_get install -y --no-install-recommends "${missing[@]}" >/dev/null
npm_services "${1:-}"
