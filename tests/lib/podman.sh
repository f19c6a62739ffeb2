# podman.sh: a podman storage of the test's own under its temp dir, a busybox base image made there
# without any registry, and its cleanup. Source after tests/lib/e2e.sh (it uses $T, $DATA).

# The server is told through the environment (see README "Environments as container images").
export AMLFS_PODMAN_ROOT=$T/podman/root AMLFS_PODMAN_RUNROOT=$T/podman/runroot
BASE=localhost/amlfs-test/busybox:1

pm() { CONTAINERS_CONF=$DATA/containers.conf podman --root "$AMLFS_PODMAN_ROOT" --runroot "$AMLFS_PODMAN_RUNROOT" "$@"; }

# Nothing of the test may keep running or stay mounted: containers, then podman's storage.
podman_cleanup() {
    [ -d "$T/podman" ] || return 0
    pm rm --all --force --time 0 >/dev/null 2>&1
    pm system reset --force >/dev/null 2>&1
    grep -F " $T/podman" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m"; done
}

# A busybox base image made here, with no registry: busybox-static and its applet links, imported.
make_base_image() {
    local root=$T/rootfs
    mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/work" || return 1
    cp /bin/busybox "$root/bin/busybox" || return 1
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
    done
    tar -C "$root" -cf "$T/rootfs.tar" . && pm import -q "$T/rootfs.tar" "$BASE" >/dev/null 2>"$T/import.err"
}
