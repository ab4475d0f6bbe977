#!/usr/bin/env bash
# Regenerates Sources/RecstreamCore/Events/Generated from Schemas/*.proto. Run by hand after
# changing a .proto; the output is committed so that builds never run the protoc plugin.
# Needs protoc (Debian: protobuf-compiler) and protoc-gen-swift built from apple/swift-protobuf at
# the version Package.swift names: PROTOC_GEN_SWIFT=/path/to/protoc-gen-swift scripts/generate-protos.sh
set -euo pipefail
cd "$(dirname "$0")/.."
plugin=${PROTOC_GEN_SWIFT:-$(command -v protoc-gen-swift || true)}
[ -x "$plugin" ] || { echo "set PROTOC_GEN_SWIFT to a protoc-gen-swift binary (swift build -c release --product protoc-gen-swift in swift-protobuf)" >&2; exit 2; }
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Public \
  --swift_out=Sources/RecstreamCore/Events/Generated -I Schemas Schemas/events.proto
