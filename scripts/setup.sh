#!/usr/bin/env bash
# Installs what gllmm needs, if missing: Debian packages, a Rust toolchain check,
# and a Python virtualenv with PyPI torch==2.11.0 (libtorch for the tch crate).
# Idempotent: fast when everything is present. Prints what it does.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
source "$here/env.sh"

say() { echo "[setup] $*"; }

TORCH_VERSION=2.11.0
APT_PACKAGES=(
  build-essential pkg-config python3-venv meson ninja-build
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-base-apps
  libjpeg-turbo-progs webp libavif-bin libheif-examples libjxl-tools
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
else
  say "Debian packages present"
fi

if ! command -v cargo >/dev/null; then
  say "error: no Rust toolchain found; install one with https://rustup.rs (Rust >= 1.85)" >&2
  exit 1
fi
rustc_minor=$(rustc --version | sed -E 's/rustc 1\.([0-9]+).*/\1/')
if ((rustc_minor < 85)); then
  say "error: Rust 1.85 or newer is needed, found $(rustc --version)" >&2
  exit 1
fi
say "Rust: $(rustc --version)"

if [[ ! -d "$LIBTORCH/../torch-${TORCH_VERSION}.dist-info" ]]; then
  say "creating virtualenv $GLLMM_VENV with torch==${TORCH_VERSION} (a large download, once)"
  mkdir -p "$GLLMM_HOME"
  python3 -m venv "$GLLMM_VENV"
  "$GLLMM_VENV/bin/pip" install -q --upgrade pip
  "$GLLMM_VENV/bin/pip" install -q "torch==${TORCH_VERSION}"
else
  say "libtorch: $LIBTORCH (torch ${TORCH_VERSION})"
fi
mkdir -p "$GLLMM_PLUGIN_DIR" "$CARGO_TARGET_DIR"
say "ready: target dir $CARGO_TARGET_DIR, plugin dir $GLLMM_PLUGIN_DIR"
