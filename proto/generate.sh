#!/usr/bin/env bash
# Regenerates Sources/SnapshotterAdapter/Generated from proto/ (never run at build or test time).
# Needs Debian's protoc (protobuf-compiler) and the two protoc plugins, built once from the
# swift-protobuf and grpc-swift-protobuf packages (a few minutes):
#   git clone https://github.com/grpc/grpc-swift-protobuf plugins && cd plugins && git checkout 2.4.1
#   swift build -c release --product protoc-gen-swift && swift build -c release --product protoc-gen-grpc-swift-2
# then: PLUGINS=plugins/.build/release proto/generate.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../Sources/SnapshotterAdapter/Generated"
plugins=${PLUGINS:?set PLUGINS to the folder holding protoc-gen-swift and protoc-gen-grpc-swift-2}
command -v protoc >/dev/null || { echo "install protobuf-compiler" >&2; exit 1; }
rm -rf "$out" && mkdir -p "$out"
protos=(containerd/types/mount.proto containerd/services/snapshots/v1/snapshots.proto)
protoc -I "$here" -I /usr/include \
  --plugin=protoc-gen-swift="$plugins/protoc-gen-swift" \
  --plugin=protoc-gen-grpc-swift-2="$plugins/protoc-gen-grpc-swift-2" \
  --swift_opt=Visibility=Public,FileNaming=PathToUnderscores \
  --swift_out="$out" \
  --grpc-swift-2_opt=Visibility=Public,FileNaming=PathToUnderscores,Client=true,Server=true \
  --grpc-swift-2_out="$out" \
  "${protos[@]}"
echo "generated: $(ls "$out" | tr '\n' ' ')"
