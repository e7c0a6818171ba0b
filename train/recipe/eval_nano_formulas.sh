#!/bin/sh
# Score a vlocr-nano model's LaTeX on ../shared/eval/formulas (im2latex test
# renders and display formulas cropped from real pages; never trained on)
# with ../shared/eval/score.py: BLEU-4, token edit distance, exact match.
#   sh train/recipe/eval_nano_formulas.sh [MODEL_DIR] [OUT_DIR]
# VLOCR: the recognise command (default: build/vlocr recognize).
MODEL=${1:-models/vlocr-nano}
OUT=${2:-out/eval-nano-formulas}
VLOCR=${VLOCR:-build/vlocr recognize}
EVAL=${VLOCR_SHARED:-../shared}/eval/formulas
mkdir -p "$OUT"
tail -n +2 $EVAL/manifest.tsv | cut -f1 | while read -r img; do
  stem=$(basename "$img"); stem=${stem%.*}
  $VLOCR --model "$MODEL" --region formula -f latex "$EVAL/$img" > "$OUT/$stem.tex"
done
echo "all 117 (GT as written):"
python3 "$EVAL/../score.py" --manifest $EVAL/manifest.tsv --pred "$OUT" --quiet | tail -1
echo "im2latex 100 (GT normalised as im2markup does):"
python3 "$EVAL/../score.py" --manifest $EVAL/manifest.tsv --pred "$OUT" --gt-dir gt_norm \
  --filter kind=formula-rendered --quiet | tail -1
