#!/usr/bin/env bash
# Runs every check: formatting, clippy, all tests (core, plugin, pipelines), and
# the meson build of the plugin.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/setup.sh"
# shellcheck source=env.sh
source "$here/env.sh"
cd "$here/.."
# The tests run side by side on tiny tensors: one libtorch thread each. Two OpenMP
# threads that find the other core busy spin (a refinement test took 300 s instead of 1 s).
export OMP_NUM_THREADS=1
# A private registry, so a stale cache from another build never blacklists the plugin.
export GST_REGISTRY="$GLLMM_HOME/test-registry.bin"
rm -f "$GST_REGISTRY"
echo "[test] cargo fmt --check"
cargo fmt --all --check
echo "[test] cargo clippy"
cargo clippy --release --workspace --all-targets --quiet -- -D warnings
echo "[test] cargo test"
cargo test --release --workspace
echo "[test] meson build"
rm -rf "$GLLMM_HOME/meson-build"
meson setup "$GLLMM_HOME/meson-build" . --prefix="$GLLMM_HOME/meson-prefix" >/dev/null
meson compile -C "$GLLMM_HOME/meson-build"
echo "[test] all passed"
