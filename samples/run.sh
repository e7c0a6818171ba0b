#!/bin/sh
# samples/run.sh BIN OUTDIR — the main job on samples/: every sample page is
# decoded and described, then converted with the default model
# (models/vlocr-nano: layout analysis + line recognition) into OUTDIR as
# Markdown, JSON and hOCR, with an overlay of each page's blocks
# (OUTDIR/<name>_overlay/<page>.png); the formula crop formula.png is read
# as one formula region into OUTDIR/formula.tex. Always exits 0: a missing
# model or a failed conversion is said, not fatal.
BIN=${1:-build/vlocr}
OUT=${2:-out}
SHARED=${VLOCR_SHARED:-../shared}
mkdir -p "$OUT"
set -- samples/*.jpg samples/*.png samples/*.tif samples/*.pdf
inputs=""
for f in "$@"; do [ -f "$f" ] && inputs="$inputs $f"; done
# formula.png is a formula crop, not a page: read as one region (below).
pages=""
for f in $inputs; do [ "$f" = samples/formula.png ] || pages="$pages $f"; done

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

echo "== vlocr --force -f md,json,hocr --overlay -o $OUT$pages"
if "$BIN" --force -f md,json,hocr --overlay -o "$OUT/" $pages; then
    echo "recognition finished; results in $OUT/:"
    for f in $pages; do
        b=$(basename "$f"); b=${b%.*}
        echo "  $OUT/$b.md  $OUT/$b.json  $OUT/$b.hocr  $OUT/${b}_overlay/"
    done
    echo "(vlocr-nano is still in training: expect misread characters; compare with samples/*.md)"
else
    echo "(recognition did not finish: see the messages above and README, Status)"
fi
if [ -f samples/formula.png ]; then
    echo "== vlocr --region formula -f latex samples/formula.png > $OUT/formula.tex"
    if "$BIN" --region formula -f latex samples/formula.png > "$OUT/formula.tex"; then
        echo "  $OUT/formula.tex (expected: samples/formula.tex)"
    else
        echo "(formula recognition did not finish: see the messages above)"
    fi
fi
echo "expected outputs: samples/*.md, samples/formula.tex (see samples/README.md)"
exit 0
