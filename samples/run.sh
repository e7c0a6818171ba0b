#!/bin/sh
# samples/run.sh BIN OUTDIR — the main job on samples/, as far as it exists.
# Today: every sample is decoded and described, a checkpoint is inspected,
# and recognition reports plainly that no model ships yet.
BIN=${1:-build/vlocr}
OUT=${2:-out}
SHARED=${VLOCR_SHARED:-../shared}
mkdir -p "$OUT"
set -- samples/*.jpg samples/*.png samples/*.tif
inputs=""
for f in "$@"; do [ -f "$f" ] && inputs="$inputs $f"; done

echo "== vlocr probe (decode every sample page)"
"$BIN" probe $inputs | tee "$OUT/probe.txt"

if [ -f "$SHARED/conformance/ocr_mha/config.json" ]; then
    echo "== vlocr info $SHARED/conformance/ocr_mha"
    "$BIN" info "$SHARED/conformance/ocr_mha" | tee "$OUT/info-ocr_mha.txt"
fi
if [ -f models/vlocr-nano/config.json ] && [ -f models/vlocr-nano/model.safetensors ]; then
    echo "== vlocr info models/vlocr-nano"
    "$BIN" info models/vlocr-nano | tee "$OUT/info-vlocr-nano.txt"
fi

echo "== vlocr$inputs"
if "$BIN" $inputs; then
    echo "recognition finished; results in $OUT/"
else
    echo "(recognition is not available yet: see README, Status)"
fi
exit 0
