#!/usr/bin/env bash
# Training on a lent GPU machine (the device tool), which gets only this checkout
# (64 MiB at most, ../shared stays behind) and gives back at most 8 files of 16 MiB:
#
#   scripts/gpu-train.sh pack [INIT]       here: fills .device/ with a stripped gllmm, as
#                                          much of the training set as fits, two validation
#                                          pictures and INIT (default: the shipped model)
#   scripts/gpu-train.sh run               there, from the device tool's `run` with
#                                          carry [".device"]: trains, writes $OUT
#   scripts/gpu-train.sh unpack DIR NAME   here: DIR holds what came back; writes
#                                          $GLLMM_HOME/gpu/NAME.safetensors and its logs
#
# `run` trains BULK_S seconds at LR (default 300 s at 1e-4; 0 skips it), then FINISH_S
# seconds at LR/10 (default 150 s) with LAMBDA_WEIGHTS if set, batch 16 of 256² crops, on
# CUDA unless GLLMM_TRAIN_DEVICE says otherwise (`cpu` runs the whole script here, for a
# dry run). PACK_JPEG=Q packs PNG pictures as 4:4:4 JPEG of quality Q so that more of the
# set travels. RESUME=1 continues the run a previous `run` left on the same, still warm
# machine (Adam's state included) instead of starting from the packed weights. SNAP_S=S
# checkpoints every S seconds and keeps each one of the finish (after its first SNAP_AFTER
# seconds), across RESUME calls; the call then exports their average too (`gllmm export`,
# f16), since an average of a finish's copies measures better than its last checkpoint. The
# checkpoint (and the average) come back in 15 MB parts; `unpack` joins them. Continue
# with `gllmm train --init FILE` and judge it like any candidate: `gllmm export FILE -o
# DIR`, then `gllmm eval`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
pack_dir=.device
# The device tool's limit on what travels, less room for small untracked files.
limit=$((62 * 1024 * 1024))

pack() {
  # shellcheck source=env.sh
  source scripts/env.sh
  local bin="$CARGO_TARGET_DIR/release/gllmm"
  [[ -x "$bin" ]] || { echo "gpu-train: build first (scripts/build.sh)" >&2; exit 1; }
  local data="${GLLMM_TRAIN_DATA:-../shared/datasets/train}"
  local val="${GLLMM_VAL_DATA:-../shared/datasets/kodak}"
  [[ -d "$data" ]] || { echo "gpu-train: no training data at $data" >&2; exit 1; }
  rm -rf "$pack_dir"
  mkdir -p "$pack_dir/data" "$pack_dir/val"
  strip -o "$pack_dir/gllmm" "$bin"
  if [[ $# -ge 1 && "$1" != models/gllmm-default/model.safetensors ]]; then
    cp "$1" "$pack_dir/init.safetensors"
  fi
  if [[ -d "$val" ]]; then
    find "$val" -maxdepth 1 -type f -iname '*.png' | sort | head -n 2 |
      while read -r f; do cp "$f" "$pack_dir/val/"; done
  fi
  local used
  used=$({ git ls-files -z; git ls-files -z -o --exclude-standard; } |
    du -cb --files0-from=- 2>/dev/null | tail -n 1 | cut -f1)
  used=$((used + $(du -sb "$pack_dir" | cut -f1)))
  # Whole files in an order fixed by their names' hashes: a mix of every source
  # folder, the same on every machine.
  local n=0 bytes=0 total=0 size h f
  while read -r h f; do
    total=$((total + 1))
    local to="$pack_dir/data/$(printf '%05d' "$n")-$(basename "$f")"
    # A converted picture's size is known only after converting; a copy's before.
    if [[ -n "${PACK_JPEG:-}" && "${f,,}" == *.png ]]; then
      to="${to%.*}.jpg"
      convert "$f" ppm:- | cjpeg -quality "$PACK_JPEG" -sample 1x1 -optimize >"$to"
      size=$(stat -c %s "$to")
    else
      size=$(stat -c %s "$f")
    fi
    if ((used + bytes + size <= limit)); then
      [[ -f "$to" ]] || cp "$f" "$to"
      bytes=$((bytes + size))
      n=$((n + 1))
    else
      rm -f "$to"
    fi
  done < <(find "$data" -type f \( -iname '*.png' -o -iname '*.jpg' -o -iname '*.jpeg' \) |
    while read -r f; do echo "$(basename "$f" | sha1sum | cut -c1-12) $f"; done | sort)
  echo "gpu-train: packed $n of $total training images ($((bytes / 1048576)) MiB);" \
    "$((used / 1048576)) MiB besides them travels"
  # The training history names the data by this note rather than the packed copy's path.
  echo "$n of the $total pictures of $data${PACK_JPEG:+ (PNGs as 4:4:4 JPEG of quality $PACK_JPEG)}, packed by scripts/gpu-train.sh" \
    >"$pack_dir/data-note"
}

# keep_snap FILE DIR: a copy of checkpoint FILE in DIR, named by its time, so that a
# checkpoint seen twice is kept once.
keep_snap() {
  cp "$1" "$2/snap-$(stat -c %Y "$1").safetensors"
}

# split_parts FILE PREFIX SUM: FILE in 15 MB parts PREFIX.partNN (the device tool returns
# files of 16 MiB at most), its hash in SUM; `join_parts` undoes it.
split_parts() {
  split -b 15M -d "$1" "$2.part"
  sha256sum "$1" | cut -d' ' -f1 >"$3"
}

run() {
  local out="${OUT:?set OUT to the folder that comes back}"
  local dev="${GLLMM_TRAIN_DEVICE:-cuda}"
  local bin="$pack_dir/gllmm"
  [[ -x "$bin" ]] || { echo "gpu-train: no $bin: run pack here and carry .device" >&2; exit 1; }
  local lib
  lib=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__) + "/lib")' 2>/dev/null ||
    echo "${LIBTORCH:?no python3 torch and no LIBTORCH}/lib")
  export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export GLLMM_HOME="${TMPDIR:-/tmp}/gllmm-gpu"
  if [[ "$dev" == cuda ]]; then nvidia-smi -L || true; fi
  if ldd "$bin" | grep 'not found'; then exit 1; fi
  local init=models/gllmm-default/model.safetensors
  [[ -f "$pack_dir/init.safetensors" ]] && init="$pack_dir/init.safetensors"
  local run_dir="$GLLMM_HOME/run" lr="${LR:-1e-4}"
  # A checkpoint left there is resumed instead of the packed start weights: wanted only
  # with RESUME=1, for a second call on a machine still warm from the first.
  local snaps="$GLLMM_HOME/snaps" ckpt="$run_dir/checkpoint.safetensors" snapper=""
  if [[ "${RESUME:-0}" == 1 ]]; then
    [[ -f "$ckpt" ]] ||
      { echo "gpu-train: RESUME=1 but no run at $run_dir (a fresh machine?)" >&2; exit 3; }
  else
    rm -rf "$run_dir" "$snaps"
  fi
  local val=()
  if [[ -n "$(ls -A "$pack_dir/val" 2>/dev/null)" ]]; then
    val=(--val-data "$pack_dir/val" --val-images 2 --val-every "${VAL_EVERY:-1000}")
  fi
  local note=()
  [[ -f "$pack_dir/data-note" ]] && note=(--data-note "$(cat "$pack_dir/data-note")")
  local args=(train --data "$pack_dir/data" "${note[@]}" --run-dir "$run_dir" --init "$init"
    --device "$dev" --precision bf16 --threads "${THREADS:-8}" --batch "${BATCH:-16}"
    --crop "${CROP:-256}" --steps 100000000 --checkpoint-secs "${SNAP_S:-60}" "${val[@]}")
  # SIGTERM makes the trainer write its checkpoint and stop; KILL only if that hangs.
  if [[ "${BULK_S:-300}" != 0 ]]; then
    timeout -k 60 -s TERM "${BULK_S:-300}" "$bin" "${args[@]}" --lr "$lr" 2>&1 |
      tee "$out/train.log" || true
  fi
  local weights=()
  [[ -n "${LAMBDA_WEIGHTS:-}" ]] && weights=(--lambda-weights "$LAMBDA_WEIGHTS")
  if [[ -n "${SNAP_S:-}" ]]; then
    mkdir -p "$snaps"
    (sleep "${SNAP_AFTER:-0}"; while sleep "$SNAP_S"; do
      [[ -f "$ckpt" ]] && keep_snap "$ckpt" "$snaps"
    done) &
    snapper=$!
  fi
  timeout -k 60 -s TERM "${FINISH_S:-150}" "$bin" "${args[@]}" "${weights[@]}" \
    --lr "$(awk -v l="$lr" 'BEGIN { print l / 10 }')" 2>&1 | tee -a "$out/train.log" || true
  [[ -z "$snapper" ]] || kill "$snapper" 2>/dev/null || true
  [[ -f "$ckpt" ]] || { echo "gpu-train: no checkpoint" >&2; exit 1; }
  local meta="$GLLMM_HOME/meta"
  rm -rf "$meta"
  mkdir -p "$meta"
  mv "$out/train.log" "$meta/"
  cp "$run_dir/train.csv" "$meta/"
  [[ -f "$run_dir/val.csv" ]] && cp "$run_dir/val.csv" "$meta/"
  split_parts "$ckpt" "$out/checkpoint" "$meta/checkpoint.sha256"
  if [[ -n "${SNAP_S:-}" ]]; then
    keep_snap "$ckpt" "$snaps"
    ls "$snaps" >"$meta/snaps.txt"
    rm -rf "$GLLMM_HOME/avg"
    "$bin" export "$snaps"/*.safetensors -o "$GLLMM_HOME/avg" 2>&1 | tee "$meta/export.log"
    cp "$GLLMM_HOME/avg/manifest.json" "$meta/avg-manifest.json"
    split_parts "$GLLMM_HOME/avg/model.safetensors" "$out/avg" "$meta/avg.sha256"
  fi
  # Few files come back, so the small ones travel as one.
  tar -C "$meta" -cf "$out/meta.tar" .
  ls -la "$out"
}

# join_parts PREFIX FILE SUM: PREFIX.part* joined into FILE, which must match SUM's hash.
join_parts() {
  cat "$1".part* >"$2"
  [[ "$(sha256sum "$2" | cut -d' ' -f1)" == "$(cat "$3")" ]] ||
    { echo "gpu-train: $2, joined from $1.part*, does not match its checksum" >&2; exit 1; }
}

unpack() {
  local from="${1:?usage: gpu-train.sh unpack DIR NAME}" name="${2:?usage: gpu-train.sh unpack DIR NAME}"
  # shellcheck source=env.sh
  source scripts/env.sh
  local to="$GLLMM_HOME/gpu"
  mkdir -p "$to"
  local meta="$to/$name.meta"
  rm -rf "$meta"
  mkdir -p "$meta"
  tar -C "$meta" -xf "$from/meta.tar"
  join_parts "$from/checkpoint" "$to/$name.safetensors" "$meta/checkpoint.sha256"
  echo "gpu-train: $to/$name.safetensors (logs in $meta)"
  if [[ -f "$meta/avg.sha256" ]]; then
    mkdir -p "$to/$name.avg"
    join_parts "$from/avg" "$to/$name.avg/model.safetensors" "$meta/avg.sha256"
    cp "$meta/avg-manifest.json" "$to/$name.avg/manifest.json"
    echo "gpu-train: $to/$name.avg (the average of $(wc -l <"$meta/snaps.txt") finish checkpoints)"
  fi
}

case "${1:-}" in
  pack) shift; pack "$@" ;;
  run) run ;;
  unpack) shift; unpack "$@" ;;
  *) sed -n '2,/^set -euo/{/^#/p}' "$0" >&2; exit 2 ;;
esac
