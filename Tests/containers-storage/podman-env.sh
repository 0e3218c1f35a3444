# Sourced: podman rebuilt with the kata-block driver (contrib/podman/build-podman.sh) and what
# this host's podman needs to run containers (runc on hybrid cgroups, no CAP_SYS_RESOURCE): the
# test's own containers.conf, not the driver's business. Needs $repo, $bin and $scratch; P runs
# podman on $scratch/graph with the driver's state in $state (default $scratch/graph/kata-block).
podman=$("$repo/contrib/podman/build-podman.sh" "$bin")
graph="$scratch/graph" run="$scratch/run" state=${state:-$scratch/graph/kata-block}
cat > "$scratch/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF="$scratch/containers.conf" SWIFT_BACKTRACE=enable=no
P() {
  "$podman" --root "$graph" --runroot "$run" --storage-driver kata-block --storage-opt "kata-block.state_dir=$state" \
    --storage-opt kata-block.default_size=1GiB --storage-opt kata-block.file.pool_size=16GiB "$@"
}
# Host mounts of our layers under $state.
layer_mounts() { awk -v s="$state/mounts/" 'index($5, s) == 1 { print $5 }' /proc/self/mountinfo; }
