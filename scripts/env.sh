# Source this file: exports what a shell needs to build and run gllmm.
# shellcheck shell=bash
export GLLMM_HOME="${GLLMM_HOME:-$HOME/.cache/gllmm}"
export GLLMM_VENV="${GLLMM_VENV:-$GLLMM_HOME/venv}"
export LIBTORCH="${LIBTORCH:-$GLLMM_VENV/lib/python3.11/site-packages/torch}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$GLLMM_HOME/target}"
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# A directory holding only the plugin: GStreamer scans GST_PLUGIN_PATH recursively.
export GLLMM_PLUGIN_DIR="$GLLMM_HOME/gst-plugins"
export GST_PLUGIN_PATH="$GLLMM_PLUGIN_DIR${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
export PATH="$CARGO_TARGET_DIR/release:$PATH"
