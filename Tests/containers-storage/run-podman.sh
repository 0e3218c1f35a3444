#!/usr/bin/env bash
# A real containers/storage client: Debian's podman 4.3.1 rebuilt with the kata-block driver
# (contrib/podman/build-podman.sh), on this host's runc. Loads a 3-layer image (a whiteout, an
# opaque directory), runs it with --rm (its / is our block device), runs one detached and waits
# for it (mounted while it runs, unmounted by conmon's cleanup process after), podman diff,
# commit and a run of the committed image; skopeo (rebuilt with the driver too) copies the image
# from an OCI layout directory into containers-storage and podman runs the copy; then it removes
# everything: nothing may be left. Root.
#   run-podman.sh BIN_DIR        (BIN_DIR holds snapctl and libkata-block-driver.so)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=$(realpath "${1:?usage: run-podman.sh BIN_DIR}")
snapctl="$bin/snapctl"
scratch=$(mktemp -d "${KBS_SCRATCH:-/var/tmp}/kbs-podman.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
source "$here/podman-env.sh"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
finish() {
  local rc=$?
  P rm -af >/dev/null 2>&1 || true
  P rmi -af >/dev/null 2>&1 || true
  "$snapctl" pool destroy --state-dir "$state" --force >/dev/null 2>&1 || true
  rm -rf "$scratch"
  exit "$rc"
}
trap finish EXIT

python3 "$here/../containerd/make-image.py" "$scratch/image.tar" kbs-test:latest
P load -q -i "$scratch/image.tar" >/dev/null
image=$(P images -q | head -1)
[ -n "$image" ] && pass "podman loaded the 3-layer image ($image)" || fail "no image after podman load"

out=$(P run --rm "$image" /bin/sh -c 'cat /etc/motd; ls /data/dir; test -e /etc/removeme || echo whiteout-applied; grep " / " /proc/mounts')
echo "$out" | sed 's/^/    /'
root_line=$(echo "$out" | grep ' / ' | head -1)
case "$root_line" in
  /dev/loop*" / ext4 "*|/dev/mapper/*" / ext4 "*) pass "the container's / is our block device: $root_line" ;;
  *) fail "the container's / is not one of our block devices: $root_line" ;;
esac
echo "$out" | grep -qx 'layer one' && echo "$out" | grep -qx new && echo "$out" | grep -qx whiteout-applied \
  && pass "podman run --rm printed from the image: the layers, the whiteout and the opaque directory" || fail "podman run output: $out"
[ -z "$(layer_mounts)" ] && pass "nothing is mounted after run --rm" || fail "mounted after run --rm: $(layer_mounts)"

container=$(P run -d "$image" /bin/sh -c 'echo from-the-container > /written; sleep 4')
sleep 1
mounted=$(layer_mounts | wc -l)
[ "$mounted" -ge 1 ] && pass "the detached container's layer is mounted while it runs" || fail "nothing mounted while the container runs"
# What Kata under CRI-O would find walking from this rootfs (what Get returned) to its device.
# (Its layer's mount point, which is what Get returned; `podman container mount` would change
# podman's own view of the running container's mounts.)
root=$(layer_mounts | head -1)
detected=$("$snapctl" detect --format json "$root") || true
echo "$detected" | python3 -c 'import json, sys; d = json.load(sys.stdin); print("    detect:", d["transport"], d.get("device"), d.get("deviceKind"), d.get("reasons"))
sys.exit(not (d["transport"] == "block" and d.get("deviceKind") in ("loop", "dm-thin")))' \
  && pass "snapctl detect: Kata's walk from the container's rootfs finds our block device and hot-plugs it" || fail "snapctl detect $root: $detected"
code=$(P wait "$container")
[ "$code" = 0 ] && pass "podman wait: exit code 0" || fail "podman wait: $code"
for _ in $(seq 1 50); do [ -z "$(layer_mounts)" ] && break; sleep 0.2; done
[ -z "$(layer_mounts)" ] && pass "conmon's cleanup process unmounted it after the exit" || fail "still mounted after the exit: $(layer_mounts)"
changes=$(P diff "$container" | tr '\n' ' ')
case " $changes" in *" A /written "*) pass "podman diff: $changes" ;; *) fail "podman diff: $changes" ;; esac
P commit -q "$container" kbs-committed >/dev/null
out=$(P run --rm kbs-committed /bin/cat /written)
[ "$out" = from-the-container ] && pass "the committed image runs and holds the container's write" || fail "committed image: $out"
P rm "$container" >/dev/null

# The pull path: skopeo (rebuilt with the driver) copies an OCI layout directory into
# containers-storage on kata-block, and podman runs the copied image.
skopeo=$("$repo/contrib/skopeo/build-skopeo.sh" "$bin")
mkdir "$scratch/oci" && tar -C "$scratch/oci" -xf "$scratch/image.tar"
if "$skopeo" --insecure-policy copy -q "oci:$scratch/oci:latest" \
    "containers-storage:[kata-block@$graph+$run:kata-block.state_dir=$state]kbs.local/copied:latest"; then
  pass "skopeo copy from an OCI layout into containers-storage:[kata-block@...]"
else
  fail "skopeo copy into kata-block"
fi
out=$(P run --rm kbs.local/copied:latest /bin/sh -c 'cat /top.txt; grep " / " /proc/mounts' 2>&1) || true
echo "$out" | sed 's/^/    /'
echo "$out" | grep -qx 'hello from the top layer' && echo "$out" | grep -qE '^/dev/(loop[0-9]+|mapper/[^ ]+) / ext4 ' \
  && pass "podman runs the image skopeo copied, from our block device" || fail "podman run of the copied image: $out"
P rmi -a -f >/dev/null
left=$("$snapctl" snapshot ls --state-dir "$state" --format json --namespace containers-storage | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$left" = 0 ] && pass "podman rmi: no layer or device left in the pool" || fail "$left snapshots left after rmi"
"$snapctl" pool destroy --state-dir "$state" --force >/dev/null
mounts=$(grep -c " $scratch" /proc/self/mountinfo || true)
loops=$(losetup -a | grep -c "$scratch" || true)
[ "$mounts" = 0 ] && [ "$loops" = 0 ] && pass "no mount or loop device is left" || fail "$mounts mounts and $loops loop devices are left"
[ "$failures" -eq 0 ] && echo "podman on kata-block: all passed" || { echo "podman on kata-block: $failures failed"; exit 1; }
