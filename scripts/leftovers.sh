#!/usr/bin/env bash
# What a test run leaves behind on the host: loop devices, mounts and device-mapper devices.
#   leftovers.sh snapshot FILE    records what is there now
#   leftovers.sh compare FILE     fails, listing them, if there is anything now that FILE lacks
set -uo pipefail
mode=${1:?usage: leftovers.sh snapshot|compare FILE}
file=${2:?usage: leftovers.sh snapshot|compare FILE}
current() {
  # Loop devices by backing file, mounts by mount point and source, dm devices by name.
  for loop in /sys/block/loop*; do
    [ -r "$loop/loop/backing_file" ] && echo "loop $(basename "$loop") $(cat "$loop/loop/backing_file")"
  done
  awk '{ print "mount " $5 }' /proc/self/mountinfo
  if [ -e /dev/mapper/control ] && command -v dmsetup >/dev/null; then
    { dmsetup ls 2>/dev/null || true; } | awk '$1 != "No" { print "dm " $1 }'
  fi
}
case "$mode" in
  snapshot) current | sort > "$file" ;;
  compare)
    now=$(mktemp /tmp/kbs-leftovers-now.XXXXXX)
    current | sort > "$now"
    new=$(comm -13 "$file" "$now")
    rm -f "$now"
    if [ -n "$new" ]; then
      echo "leftovers: the run left these behind:"
      echo "$new" | sed 's/^/  /'
      exit 1
    fi
    echo "leftovers: the run left no loop device, mount or device-mapper device behind"
    ;;
  *) echo "usage: leftovers.sh snapshot|compare FILE" >&2; exit 2 ;;
esac
