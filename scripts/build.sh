#!/usr/bin/env bash
# Builds the gllmm CLI and the GStreamer plugin (release), and puts the plugin
# into a directory of its own on GST_PLUGIN_PATH.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
source "$here/env.sh"
cd "$here/.."
echo "[build] cargo build --release --workspace"
cargo build --release --workspace --quiet
mkdir -p "$GLLMM_PLUGIN_DIR"
cp -f "$CARGO_TARGET_DIR/release/libgstgllmm.so" "$GLLMM_PLUGIN_DIR/"
echo "[build] plugin: $GLLMM_PLUGIN_DIR/libgstgllmm.so, CLI: $CARGO_TARGET_DIR/release/gllmm"
