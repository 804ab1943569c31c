#!/usr/bin/env bash
# Called by meson.build: cargo build of the plugin, copied to meson's output path.
set -euo pipefail
src="$1" build="$2" out="$3"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$build/target}"
cargo build --release -p gst-plugin-gllmm --manifest-path "$src/Cargo.toml"
cp -f "$CARGO_TARGET_DIR/release/libgstgllmm.so" "$out"
