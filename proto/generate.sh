#!/usr/bin/env bash
# Regenerates Sources/SnapshotterAdapter/Generated from proto/ (never run at build or test time).
# Only the messages are generated (swift-protobuf); the service's methods are routed by hand in
# Sources/SnapshotterAdapter/SnapshotsService+Routes.swift for our own gRPC server.
# Needs Debian's protoc (protobuf-compiler, libprotobuf-dev) and protoc-gen-swift, built once from
# the swift-protobuf package (about two minutes):
#   git clone https://github.com/apple/swift-protobuf plugins && cd plugins && git checkout 1.39.0
#   swift build -c release --product protoc-gen-swift
# then: PLUGINS=plugins/.build/release proto/generate.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../Sources/SnapshotterAdapter/Generated"
plugins=${PLUGINS:?set PLUGINS to the folder holding protoc-gen-swift}
command -v protoc >/dev/null || { echo "install protobuf-compiler" >&2; exit 1; }
rm -rf "$out" && mkdir -p "$out"
protos=(containerd/types/mount.proto containerd/services/snapshots/v1/snapshots.proto)
protoc -I "$here" -I /usr/include \
  --plugin=protoc-gen-swift="$plugins/protoc-gen-swift" \
  --swift_opt=Visibility=Public,FileNaming=PathToUnderscores \
  --swift_out="$out" \
  "${protos[@]}"
echo "generated: $(ls "$out" | tr '\n' ' ')"
