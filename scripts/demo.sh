#!/usr/bin/env bash
# The main job: encode and decode a real photograph through GStreamer with the
# shipped default model, then report size, bpp and PSNR.
#   scripts/demo.sh [PICTURE.png|jpg]
# Without an argument it uses a photograph from Debian's lomiri-wallpapers-20.04
# package (installed if missing), scaled to 768 pixels wide.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/setup.sh"
"$here/build.sh"
# shellcheck source=env.sh
source "$here/env.sh"

out="${GLLMM_DEMO_DIR:-$GLLMM_HOME/demo}"
mkdir -p "$out"
in="$out/in.png"
if [[ $# -ge 1 ]]; then
  src="$1"
  [[ -f "$src" ]] || { echo "demo: no such file: $src" >&2; exit 1; }
else
  src=/usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg
  if [[ ! -f "$src" ]]; then
    echo "[demo] installing a sample photograph (Debian package lomiri-wallpapers-20.04)"
    if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q lomiri-wallpapers-20.04 >/dev/null
  fi
fi
case "$src" in
  *.png | *.PNG) dec=pngdec ;;
  *) dec=jpegdec ;;
esac
# The input PNG: the picture at most 768 pixels wide (CPU-friendly), 8-bit RGB.
gst-launch-1.0 -q filesrc location="$src" ! $dec ! videoconvert ! videoscale ! \
  "video/x-raw,width=768,pixel-aspect-ratio=1/1" ! videoconvert ! "video/x-raw,format=RGB" ! \
  pngenc ! filesink location="$in"

set -x
gst-launch-1.0 filesrc location="$in" ! pngdec ! gllmmenc ! filesink location="$out/out.gllmm"
gst-launch-1.0 filesrc location="$out/out.gllmm" ! gllmmparse ! gllmmdec ! pngenc ! filesink location="$out/back.png"
gst-launch-1.0 filesrc location="$out/out.gllmm" ! decodebin ! videoconvert ! pngenc ! filesink location="$out/back2.png"
set +x

gllmm info "$out/out.gllmm"
gllmm decode "$out/out.gllmm" -o "$out/back-cli.png"
python3 - "$in" "$out/back.png" "$out/out.gllmm" "$out/back-cli.png" <<'PY'
import sys, zlib, struct, math, os

def png_rgb(path):
    d = open(path, "rb").read()
    pos, idat, w = 8, b"", 0
    while pos < len(d):
        n, t = struct.unpack(">I4s", d[pos:pos + 8]); body = d[pos + 8:pos + 8 + n]; pos += 12 + n
        if t == b"IHDR": w, h, depth, ct = struct.unpack(">IIBB", body[:10])
        elif t == b"IDAT": idat += body
    ch = {2: 3, 0: 1, 6: 4}[ct]; raw = zlib.decompress(idat); stride = w * ch; out = bytearray(); prev = bytearray(stride); p = 0
    for _ in range(h):
        f = raw[p]; line = bytearray(raw[p + 1:p + 1 + stride]); p += 1 + stride
        for i in range(stride):
            a = line[i - ch] if i >= ch else 0; b = prev[i]; c = prev[i - ch] if i >= ch else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += line; prev = line
    return w, h, bytes(out)

w, h, a = png_rgb(sys.argv[1]); _, _, b = png_rgb(sys.argv[2]); _, _, c = png_rgb(sys.argv[4])
size = os.path.getsize(sys.argv[3])
mse = sum((x - y) ** 2 for x, y in zip(a, b)) / len(a)
print(f"\n{w}x{h}: {size} bytes, {size * 8 / (w * h):.4f} bpp, PSNR {10 * math.log10(255 ** 2 / mse):.2f} dB")
print("GStreamer decode == gllmm decode:", "yes (bit for bit)" if b == c else "NO")
PY
echo "files: $out/{in.png,out.gllmm,back.png,back2.png}"
