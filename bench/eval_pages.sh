#!/bin/sh
# bench/eval_pages.sh [BIN] — whole pages through vlocr and through Tesseract,
# same pages, same machine, same run: pages/s of each (and their ratio) and
# the scores of ../shared/eval/score.py on the outputs.
#   doc-markdown (English pages): vlocr -f md, tesseract txt → md_ned
#   real-lines-pages (page items): vlocr -f txt, tesseract txt → page CER
# Tesseract is a benchmark-only dependency (apt install tesseract-ocr).
set -e
BIN=${1:-build/vlocr}
EVAL=${VLOCR_SHARED:-../shared}/eval
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
command -v tesseract >/dev/null || { echo "tesseract not installed (apt install tesseract-ocr)"; exit 1; }

list() { # set, kind regex, lang regex → image paths
    awk -F'\t' -v f="$2" -v l="$3" 'NR>1 && ($7 ~ f) && ($8 ~ l) {print $1}' "$EVAL/$1/manifest.tsv"
}
now() { date +%s.%N; }

run_set() { # set, kind regex, lang regex, vlocr format, ext
    set=$1; kind=$2; lang=$3; fmt=$4; ext=$5
    mkdir -p "$T/$set/vlocr" "$T/$set/tess" "$T/$set/in"
    n=0
    for img in $(list "$set" "$kind" "$lang"); do
        cp "$EVAL/$set/$img" "$T/$set/in/"; n=$((n+1))
    done
    t0=$(now)
    "$BIN" -q -j 1 -f "$fmt" -o "$T/$set/vlocr" "$T/$set/in" >/dev/null 2>&1 || true
    t1=$(now)
    for f in "$T/$set/in"/*; do
        id=$(basename "$f"); id=${id%.*}
        tesseract "$f" "$T/$set/tess/$id" >/dev/null 2>&1 || true
        [ "$ext" = txt ] || mv "$T/$set/tess/$id.txt" "$T/$set/tess/$id.$ext"
    done
    t2=$(now)
    vs=$(echo "$n / ($t1 - $t0)" | bc -l); ts=$(echo "$n / ($t2 - $t1)" | bc -l)
    sv=$(python3 "$EVAL/score.py" --manifest "$EVAL/$set/manifest.tsv" --pred "$T/$set/vlocr" --filter "kind=$(list_kinds "$set" "$kind")" --filter "lang=$(list_langs "$set" "$kind" "$lang")" --quiet | tail -1)
    st=$(python3 "$EVAL/score.py" --manifest "$EVAL/$set/manifest.tsv" --pred "$T/$set/tess" --filter "kind=$(list_kinds "$set" "$kind")" --filter "lang=$(list_langs "$set" "$kind" "$lang")" --quiet | tail -1)
    printf '| %s (%d pages) | vlocr | %.3f | %s |\n' "$set" "$n" "$vs" "$sv"
    printf '| %s (%d pages) | tesseract | %.3f | %s |\n' "$set" "$n" "$ts" "$st"
    printf '| %s | vlocr ÷ tesseract pages/s | %.2f | |\n' "$set" "$(echo "$vs / $ts" | bc -l)"
}
list_langs() { awk -F'\t' -v f="$2" -v l="$3" 'NR>1 && ($7 ~ f) && ($8 ~ l) {print $8}' "$EVAL/$1/manifest.tsv" | sort -u | paste -sd, -; }
list_kinds() { awk -F'\t' -v f="$2" 'NR>1 && ($7 ~ f) {print $7}' "$EVAL/$1/manifest.tsv" | sort -u | paste -sd, -; }

echo "| set | engine | pages/s | score.py summary |"
echo "|---|---|---|---|"
run_set doc-markdown '^page-' '^en$' md md
run_set real-lines-pages '^page$' '.' txt txt
