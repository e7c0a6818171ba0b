#!/bin/sh
# Score a vlocr-nano model on the real scanned English lines of
# ../shared/eval/real-lines-pages (never trained on) with ../shared/eval/score.py.
#   sh train/recipe/eval_nano.sh [MODEL_DIR] [OUT_DIR]
# VLOCR: the recognise command (default: build/vlocr recognize).
MODEL=${1:-models/vlocr-nano}
OUT=${2:-out/eval-nano-lines}
VLOCR=${VLOCR:-build/vlocr recognize}
EVAL=../shared/eval/real-lines-pages
mkdir -p "$OUT"
tail -n +2 $EVAL/manifest.tsv | awk -F'\t' '$7=="line" && $8=="en" {print $1}' | while read -r img; do
  stem=$(basename "$img"); stem=${stem%.*}
  $VLOCR --model "$MODEL" --region line "$EVAL/$img" > "$OUT/$stem.txt"
done
python3 ../shared/eval/score.py --manifest $EVAL/manifest.tsv --pred "$OUT" \
  --filter kind=line --filter lang=en --quiet
