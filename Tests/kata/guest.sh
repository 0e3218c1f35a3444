# Sourced by the Kata tests: run_guest DEVICE JOB ARGS... runs the shell script JOB in a guest
# that has DEVICE as its disk, with the guest's name for it as $1 and ARGS after it. On the host
# the guest is a qemu TCG VM (scripts/vm/run.sh --disk: the device is /dev/vda there); inside the
# VM (KBS_IN_VM=1) the VM itself is the guest and uses the device as it is. Needs $repo.
run_guest() {
  local device=$1 job=$2; shift 2
  if [ -n "${KBS_IN_VM:-}" ]; then
    sh -c "$job" guest "$device" "$@" 2>&1
  else
    "$repo/scripts/vm/run.sh" --timeout 300 --memory 1024 --disk "$device" -- sh -c "$job" guest /dev/vda "$@" 2>&1
  fi
}
