#!/bin/sh
# tests/cli_test.sh BIN — the vlocr command line, end to end: help/version,
# `info` on the conformance fixtures, and bad inputs rejected by name with a
# non-zero exit. Prints "N passed, N failed"; exits non-zero on failure.
BIN=${1:-build/vlocr}
SHARED=${VLOCR_SHARED:-../shared}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0

ok()   { pass=$((pass+1)); }
bad()  { fail=$((fail+1)); echo "FAIL: $*"; }

# expect STATUS WORD DESC -- CMD...: exit status STATUS ('nz' = non-zero) and
# WORD (grep -E) in stdout+stderr.
expect() {
    want=$1; word=$2; desc=$3; shift 4
    "$@" >"$T/out" 2>&1; rc=$?
    if [ "$want" = nz ]; then [ $rc -ne 0 ] || { bad "$desc: exit 0, want non-zero"; cat "$T/out"; return; }
    else [ $rc -eq "$want" ] || { bad "$desc: exit $rc, want $want"; cat "$T/out"; return; }; fi
    if [ $rc -ge 128 ]; then bad "$desc: killed by signal $((rc-128))"; return; fi
    grep -Eq -- "$word" "$T/out" || { bad "$desc: output lacks /$word/"; cat "$T/out"; return; }
    ok
}

expect 0 "usage:" "--help" -- "$BIN" --help
expect 0 "^vlocr [0-9]+\.[0-9]+\.[0-9]+" "--version" -- "$BIN" --version
expect 2 "usage" "no arguments" -- "$BIN"
expect 2 "usage" "info without a directory" -- "$BIN" info

# Hostile and broken inputs: each named, each with its reason, none crashes.
: > "$T/empty.png"
printf 'this is not an image at all' > "$T/garbage.png"
printf '\211\120\116\107\015\012\032\012\000\000\000\015\111\110\104\122\000\001\206\240\000\001\206\240\010\000\000\000\000\215\071\124\024' > "$T/huge.png"
head -c 3000 samples/page-scan.jpg > "$T/trunc.jpg"
head -c 300 samples/page-scan.jpg > "$T/header-only.jpg"
printf 'II*\000\377\377\377\177garbage' > "$T/bad.tiff"
printf '%%PDF-1.4\n%%\342\343\n' > "$T/doc.pdf"
expect nz "empty.png: .*empty" "zero-byte file" -- "$BIN" "$T/empty.png"
expect nz "garbage.png: .*not a supported image" "garbage bytes" -- "$BIN" "$T/garbage.png"
expect nz "huge.png: .*100000x100000.*megapixel" "100000x100000 PNG header" -- "$BIN" "$T/huge.png"
expect nz "header-only.jpg: " "JPEG cut after its header" -- "$BIN" "$T/header-only.jpg"
expect nz "bad.tiff: " "TIFF with a garbage IFD offset" -- "$BIN" "$T/bad.tiff"
expect nz "doc.pdf: .*PDF" "PDF before the PDF renderer exists" -- "$BIN" "$T/doc.pdf"
expect nz "missing.png: .*(No such file|cannot open)" "missing file" -- "$BIN" "$T/missing.png"
expect nz "page-scan.jpg: .*megapixel" "--max-pixels refuses before decoding" -- "$BIN" probe --max-pixels 1M samples/page-scan.jpg
expect 2 "max-pixels" "--max-pixels validation" -- "$BIN" probe --max-pixels -5 samples/page-scan.jpg
expect 3 "garbage.png" "probe: partial batch exit 3" -- "$BIN" probe samples/page-scan.jpg "$T/garbage.png"
expect 0 "page-scan.jpg: JPEG 1240x1754 8 bpp" "probe a good JPEG" -- "$BIN" probe samples/page-scan.jpg
expect 0 "<stdin>: JPEG 1240x1754" "probe from stdin" -- sh -c "\"$BIN\" probe - < samples/page-scan.jpg"
# A good input with no model: the file decodes, and the missing model is said plainly.
expect nz "no recognition model" "no model yet" -- "$BIN" --model "$T/nomodel" samples/page-scan.jpg

# info on the official-code fixtures, and on broken model directories.
if [ -f "$SHARED/conformance/ocr_mha/config.json" ]; then
    for f in ocr_mha mla_greedy mla_noaux_tc; do
        expect 0 "result: +OK" "info $f" -- "$BIN" info "$SHARED/conformance/$f"
    done
    for f in ocr_mha mla_greedy mla_noaux_tc; do
        expect 0 "conform: [0-9]+ passed, 0 failed" "conform $f (official-code fixture)" -- "$BIN" conform "$SHARED/conformance/$f"
    done
    # A tampered copy must fail.
    mkdir -p "$T/fx"
    cp -r "$SHARED/conformance/mla_greedy" "$T/fx/mla_greedy"
    chmod -R u+w "$T/fx"
    ln -s "$(cd "$SHARED/conformance/common" && pwd)" "$T/fx/common"
    # set the exponent byte of one float in the layer-1 output golden
    printf '\177' | dd of="$T/fx/mla_greedy/decoder/dec_layer1_out.npy" bs=1 seek=1003 conv=notrunc 2>/dev/null
    expect 1 "dec_layer1_out .*FAIL" "conform detects a tampered golden" -- "$BIN" conform "$T/fx/mla_greedy"
    expect 0 "MLA, 4 heads, q_lora 48, kv_lora 32" "info shows MLA dims" -- "$BIN" info "$SHARED/conformance/mla_noaux_tc"
    expect 0 "noaux_tc top-k, groups 1/2" "info shows router" -- "$BIN" info "$SHARED/conformance/mla_noaux_tc"
    mkdir -p "$T/m1"
    cp "$SHARED/conformance/ocr_mha/config.json" "$T/m1/"
    sed 's/"n_routed_experts": 8/"n_routed_experts": 9/' "$SHARED/conformance/ocr_mha/config.json" > "$T/m1/config.json"
    ln -s "$(cd "$SHARED/conformance/ocr_mha" && pwd)/model.safetensors" "$T/m1/model.safetensors"
    expect 1 "missing +model.layers.1.mlp.experts.8.down_proj.weight" "info lists missing tensors" -- "$BIN" info "$T/m1"
    expect 1 "misshaped +model.layers.2.mlp.gate.weight is \[8,64\], config implies \[9,64\]" "info lists misshaped tensors" -- "$BIN" info "$T/m1"
else
    echo "SKIP info on fixtures: $SHARED/conformance not found"
fi
mkdir -p "$T/m2"
printf '{"hidden_size": ' > "$T/m2/config.json"
expect 1 "config.json: invalid JSON" "info with broken config.json" -- "$BIN" info "$T/m2"
mkdir -p "$T/m3"
printf '{"use_mla": false, "hidden_size": 64, "num_attention_heads": 4}' > "$T/m3/config.json"
printf '\000\000\000\200\000\000\000\000{}' > "$T/m3/model.safetensors"
expect 1 "model.safetensors: header length 2147483648 bytes exceeds the limit" "info with a 2 GB header field" -- "$BIN" info "$T/m3"
expect 1 "config.json: cannot open" "info on a directory without config.json" -- "$BIN" info "$T/m1x"
mkdir -p "$T/m4"; cp "$T/m3/config.json" "$T/m4/"
expect 1 "no model.safetensors" "info on a directory without weights" -- "$BIN" info "$T/m4"


# ==========================================================================
# DeepSeek-OCR page path: vlocr --model DIR (cli/cli_read.c, pipeline/pipe_*).
# Appended section, owned by the page-pipeline author. The tiny official-code
# fixtures + the synthetic byte tokenizer (tests/data/dsocr/tokenizer.json)
# must reproduce generation/generated_ids.npy through the whole command.
# ==========================================================================
DS="$SHARED/conformance"
if [ -f "$DS/ocr_mha/model.safetensors" ] && [ -f tests/data/dsocr/tokenizer.json ]; then
    # dsmodel NAME FIXTURE [notok]: a model directory of symlinks + tokenizer.
    dsmodel() {
        mkdir -p "$T/$1"
        ln -sf "$(cd "$DS/$2" && pwd)/config.json" "$T/$1/config.json"
        ln -sf "$(cd "$DS/$2" && pwd)/model.safetensors" "$T/$1/model.safetensors"
        [ "$3" = notok ] || cp tests/data/dsocr/tokenizer.json "$T/$1/"
    }
    TINY="--base-size 256 --image-size 128 --crop-threshold 128 --max-new-tokens 8"
    IMG="$DS/common/test_image.png"
    SMALL="$DS/common/global_only/test_image_small.png"
    dsmodel ds_ocr_mha ocr_mha; dsmodel ds_mla_greedy mla_greedy; dsmodel ds_mla_noaux_tc mla_noaux_tc
    # shellcheck disable=SC2086
    {
    expect 0 "generated ids: 228 276 45 137 18 115 45 137$" "E2E ocr_mha: PNG to the 8 golden ids" -- "$BIN" --model "$T/ds_ocr_mha" $TINY -vv "$IMG"
    expect 0 "generated ids: 284 47 101 149 21 149 21 149$" "E2E mla_greedy: PNG to the 8 golden ids" -- "$BIN" --model "$T/ds_mla_greedy" $TINY -vv "$IMG"
    expect 0 "generated ids: 176 209 130 132 255 169 66 2$" "E2E mla_noaux_tc: PNG to the 8 golden ids" -- "$BIN" --model "$T/ds_mla_noaux_tc" $TINY -vv "$IMG"
    expect 0 "generated ids: 228 0 18 52 18 52 18 0$" "E2E ocr_mha global-only 120x90" -- "$BIN" --model "$T/ds_ocr_mha" $TINY -vv "$SMALL"
    expect 0 "tiles 3x2, prompt 85 tokens \(49 image\), 8 generated" "-v: per-page counts" -- "$BIN" --model "$T/ds_ocr_mha" $TINY -v "$IMG"
    expect 0 "token limit" "token limit reported as a warning" -- "$BIN" --model "$T/ds_ocr_mha" $TINY "$IMG"
    expect 0 "generated ids: 228 276 45 137 18 115 45 137$" "stdin input" -- sh -c "\"$BIN\" --model \"$T/ds_ocr_mha\" $TINY -vv - < \"$IMG\""
    mkdir -p "$T/o1"
    expect 0 "" "-f json -o FILE" -- "$BIN" --model "$T/ds_ocr_mha" $TINY -f json -o "$T/o1/page.json" "$IMG"
    if grep -q '"generated_tokens":8' "$T/o1/page.json" && grep -q '"width": 360' "$T/o1/page.json"; then ok; else bad "-f json: page.json lacks the page"; fi
    expect 0 "" "-f md,json -o x.md writes both" -- "$BIN" --model "$T/ds_ocr_mha" $TINY -f md,json -o "$T/o1/x.md" "$IMG"
    if [ -f "$T/o1/x.md" ] && [ -f "$T/o1/x.json" ] && ! ls "$T/o1" | grep -q '\.tmp\.'; then ok; else bad "md,json: outputs missing or temporaries left"; ls "$T/o1"; fi
    # A batch with one unreadable input: named, the rest produced, exit 3.
    expect 3 "garbage.png: .*not a supported image" "batch with a bad file: exit 3" -- "$BIN" --model "$T/ds_ocr_mha" $TINY -o "$T/o2" "$IMG" "$T/garbage.png" "$SMALL"
    if [ -f "$T/o2/test_image.md" ] && [ -f "$T/o2/test_image_small.md" ] && [ ! -e "$T/o2/garbage.md" ]; then ok; else bad "batch: outputs"; ls "$T/o2"; fi
    expect 1 "empty.png" "batch where every input fails: exit 1" -- "$BIN" --model "$T/ds_ocr_mha" $TINY "$T/empty.png" "$T/garbage.png"
    expect 0 "generated ids" "--prompt locate:TEXT" -- "$BIN" --model "$T/ds_ocr_mha" $TINY -vv --prompt "locate:the title" "$IMG"
    expect 0 "n-gram 30 \(windowed\)" "--vllm-ngram" -- "$BIN" --model "$T/ds_ocr_mha" $TINY -v --vllm-ngram -f txt "$IMG"
    expect 0 "" "--overlay into a new directory" -- "$BIN" --model "$T/ds_ocr_mha" $TINY --overlay -o "$T/o3/sub/p.md" "$IMG"
    if [ -f "$T/o3/sub/p.md" ] && [ -f "$T/o3/sub/p_overlay/1.png" ]; then ok; else bad "--overlay: files"; ls -R "$T/o3"; fi
    expect 2 "--overlay needs -o" "--overlay without -o" -- "$BIN" --model "$T/ds_ocr_mha" --overlay "$IMG"
    expect 0 "prompt 60 tokens" "--prompt free (shorter prompt)" -- "$BIN" --model "$T/ds_ocr_mha" $TINY -v --prompt free "$IMG"
    }
    # Model directory and command-line errors.
    dsmodel ds_notok ocr_mha notok
    expect 1 "tokenizer.json: not found" "model dir without tokenizer.json" -- "$BIN" --model "$T/ds_notok" "$IMG"
    expect 2 "--mode: unknown mode 'huge'" "bad --mode" -- "$BIN" --model "$T/ds_ocr_mha" --mode huge "$IMG"
    expect 2 "more than one <image>" "prompt with two <image>" -- "$BIN" --model "$T/ds_ocr_mha" --prompt "<image><image>" "$IMG"
    expect 2 "unknown format 'pdf'" "bad -f" -- "$BIN" --model "$T/ds_ocr_mha" -f pdf "$IMG"
    expect 2 "several formats need -o" "two formats to stdout" -- "$BIN" --model "$T/ds_ocr_mha" -f md,json "$IMG"
    expect 2 "max-tiles" "bad --max-tiles" -- "$BIN" --model "$T/ds_ocr_mha" --max-tiles 0 "$IMG"
    expect 1 "no vision_config" "decoder-only checkpoint" -- "$BIN" --model "$T/m3" "$IMG"
else
    echo "SKIP DeepSeek-OCR page path: $DS or tests/data/dsocr/tokenizer.json not found"
fi

# ---- vlocr train: a few steps from scratch on synthetic lines, then an
# export that is a complete model directory (weights, config, tokenizer)
# which info checks and the recogniser loads.
if [ -d "$SHARED/corpus/text" ]; then
    cat > "$T/tiny-recipe.json" <<EOF
{"name": "cli test", "seed": 4, "batch": 2, "pool_batches": 1, "threads": 1, "max_height": 32,
 "max_width": 128, "max_text_tokens": 16, "tokenizer": "models/vlocr-nano/tokenizer.json",
 "corpus": "$SHARED/corpus", "mix": {"line": 1.0, "cell": 0.0}, "val_every": 1000000,
 "log_every": 1, "opt": {"warmup": 1}}
EOF
    "$BIN" train --recipe "$T/tiny-recipe.json" --run "$T/run" --until-step 2 --export "$T/exp" >"$T/out" 2>&1
    if [ $? -eq 0 ] && grep -q "^step 2 " "$T/run/train.log" && [ -s "$T/run/ckpt.safetensors" ] &&
       [ -s "$T/exp/model.safetensors" ] && [ -s "$T/exp/config.json" ] && cmp -s "$T/exp/tokenizer.json" models/vlocr-nano/tokenizer.json; then ok
    else bad "vlocr train 2 steps + --export: log, checkpoint, model dir with tokenizer"; cat "$T/out"; ls "$T/run" "$T/exp"; fi
    expect 0 "0 missing, 0 misshaped, 0 unexpected" "info on a fresh export" -- "$BIN" info "$T/exp"
    expect 0 "" "the recogniser loads a fresh export" -- "$BIN" recognize --model "$T/exp" --region line samples/formula.png
else
    echo "SKIP vlocr train: no text corpus under $SHARED/corpus"
fi

# ---- vlocr-nano region crops: `vlocr --region line|cell|formula` (and
# `vlocr recognize`) on a synthetic line; the text itself is not checked
# (the shipped model's accuracy is scored by ../shared/eval/score.py).
if [ -f models/vlocr-nano/model.safetensors ] && [ -f models/vlocr-nano/config.json ]; then
    if "$BIN" synth --kind line --n 1 --seed 5 --out "$T/nano" >/dev/null 2>&1 && [ -f "$T/nano/line-000000.png" ]; then
        expect 0 "[^[:space:]]" "--region line on a synthetic line: non-empty text" -- "$BIN" --region line "$T/nano/line-000000.png"
        expect 0 "[^[:space:]]" "--region line -f txt from stdin" -- sh -c "\"$BIN\" --region line -f txt - < \"$T/nano/line-000000.png\""
        "$BIN" --region cell "$T/nano/line-000000.png" "$T/nano/line-000000.png" >"$T/nano2" 2>&1
        if [ $? -eq 0 ] && [ "$(wc -l < "$T/nano2")" -eq 2 ]; then ok; else bad "--region with two images: two lines"; cat "$T/nano2"; fi
        expect 3 "garbage.png" "--region batch with a bad image: exit 3" -- "$BIN" --region line "$T/nano/line-000000.png" "$T/garbage.png"
        expect 2 "--region is line, cell or formula" "bad --region" -- "$BIN" --region page "$T/nano/line-000000.png"
        expect 2 "txt, latex or tsv" "--region with -f md" -- "$BIN" --region formula -f md "$T/nano/line-000000.png"
        expect 0 "[^[:space:]]" "vlocr recognize (same reader)" -- "$BIN" recognize --region line "$T/nano/line-000000.png"
        expect 0 "[^[:space:]]" "--region formula --beam 4: a read" -- "$BIN" --region formula --beam 4 samples/formula.png
        expect 0 "[^[:space:]]" "recognize --beam 3 on a line" -- "$BIN" recognize --region line --beam 3 "$T/nano/line-000000.png"
        expect 2 "--beam" "--beam 0 refused" -- "$BIN" --region formula --beam 0 samples/formula.png
        expect 2 "--beam" "recognize --beam 65 refused" -- "$BIN" recognize --region line --beam 65 "$T/nano/line-000000.png"
        expect 1 "/nonexistent/model.*config.json" "recognize with a missing model dir" -- "$BIN" recognize --model /nonexistent/model --region line "$T/nano/line-000000.png"
        mkdir -p "$T/emptymodel"
        expect 1 "emptymodel.*config.json" "recognize with an empty model dir" -- "$BIN" --region line --model "$T/emptymodel" "$T/nano/line-000000.png"
        # tsv: a header, then file, a confidence in (0, 1] and the same text as -f txt.
        "$BIN" --region line -f tsv "$T/nano/line-000000.png" >"$T/nano3" 2>&1
        txt=$("$BIN" --region line "$T/nano/line-000000.png" 2>/dev/null)
        if [ "$(sed -n 1p "$T/nano3")" = "$(printf 'file\tconfidence\ttext')" ] &&
           awk -F'\t' -v f="$T/nano/line-000000.png" -v t="$txt" 'NR==2 && $1==f && $2>0 && $2<=1 && $3==t {ok=1} END {exit !(ok && NR==2)}' "$T/nano3"; then ok; else bad "--region line -f tsv: header + file, confidence, text"; cat "$T/nano3"; fi
    elif [ ! -d "$SHARED/corpus/text" ]; then
        echo "SKIP --region on a synthetic line: $SHARED/corpus (the generator's text) not found"
    else
        bad "vlocr synth --kind line could not make a crop"
    fi
else
    echo "SKIP vlocr-nano region crops: models/vlocr-nano not exported"
fi

# ==========================================================================
# Batch: vlocr -j N DIR -o OUTDIR (pipeline/pipe_inputs.c, pipe_batch.c,
# pipe_hocr.c; the batch options of cli/cli_read.c). Appended section,
# owned by the batch-runner author. Tiny fixture model as above.
# ==========================================================================
if [ -f "$DS/ocr_mha/model.safetensors" ] && [ -f tests/data/dsocr/tokenizer.json ]; then
    [ -d "$T/ds_ocr_mha" ] || dsmodel ds_ocr_mha ocr_mha
    TINY="--base-size 256 --image-size 128 --crop-threshold 128 --max-new-tokens 8"
    IMG="$DS/common/test_image.png"
    SMALL="$DS/common/global_only/test_image_small.png"
    B="$T/batch"
    mkdir -p "$B/in/sub/deeper" "$B/in/.hidden"
    cp "$IMG" "$B/in/a.png"; cp "$SMALL" "$B/in/sub/b.png"; cp "$SMALL" "$B/in/sub/deeper/c.png"
    cp "$SMALL" "$B/in/.hidden/h.png"; printf 'not an image' > "$B/in/sub/bad.png"; printf 'notes' > "$B/in/notes.txt"
    # shellcheck disable=SC2086
    {
    expect 3 "sub/bad.png: .*not a supported image" "batch dir with a corrupt file: exit 3, named" -- "$BIN" --model "$T/ds_ocr_mha" $TINY -o "$B/o1" "$B/in"
    grep -q "3 done, 0 skipped (already complete), 1 failed" "$T/out" && ok || { bad "batch summary"; cat "$T/out"; }
    if [ -f "$B/o1/a.md" ] && [ -f "$B/o1/sub/b.md" ] && [ -f "$B/o1/sub/deeper/c.md" ] && [ ! -e "$B/o1/sub/bad.md" ] &&
       [ ! -e "$B/o1/h.md" ] && [ ! -e "$B/o1/.hidden" ] && [ ! -e "$B/o1/notes.md" ] &&
       [ -z "$(find "$B/o1" -name '*.tmp.*')" ]; then ok; else bad "batch: mirrored outputs"; find "$B/o1"; fi
    cp "$B/o1/a.md" "$B/a.md.first"
    expect 3 "0 done, 3 skipped \(already complete\), 1 failed" "rerun skips complete documents" -- "$BIN" --model "$T/ds_ocr_mha" $TINY -o "$B/o1" "$B/in"
    expect 3 "3 done, 0 skipped" "--force redoes them" -- "$BIN" --model "$T/ds_ocr_mha" $TINY --force -o "$B/o1" "$B/in"
    cmp -s "$B/o1/a.md" "$B/a.md.first" && ok || bad "--force: same output again"
    rm "$B/o1/sub/b.md"
    expect 3 "1 done, 2 skipped" "a deleted output is redone alone" -- "$BIN" --model "$T/ds_ocr_mha" $TINY -o "$B/o1" "$B/in"
    # -j 2 gives the same files as -j 1.
    expect 3 "3 done" "-j 2" -- "$BIN" --model "$T/ds_ocr_mha" $TINY -j 2 -o "$B/o2" "$B/in"
    if diff -r "$B/o1" "$B/o2" >/dev/null; then ok; else bad "-j 1 and -j 2 outputs differ"; diff -r "$B/o1" "$B/o2" | head; fi
    # Globs, formats, @lists, page selections, stale temporaries.
    expect 0 "2 done, 0 skipped \(already complete\), 0 failed" "--include/--exclude" -- "$BIN" --model "$T/ds_ocr_mha" $TINY --include '*.png' --exclude 'bad.png' --exclude 'deeper' -f md,hocr -o "$B/o3" "$B/in"
    if [ -f "$B/o3/a.hocr" ] && grep -q 'class="ocr_page"' "$B/o3/a.hocr" && [ -f "$B/o3/sub/b.md" ] && [ ! -e "$B/o3/sub/deeper" ]; then ok; else bad "globs / hocr outputs"; find "$B/o3"; fi
    printf '# pages to read\n%s\n\n%s\n' "$B/in/a.png" "$B/in/sub" > "$B/list.txt"
    expect 3 "3 done, 0 skipped.*1 failed" "@list with a directory" -- "$BIN" --model "$T/ds_ocr_mha" $TINY -o "$B/o4" "@$B/list.txt"
    if [ -f "$B/o4/a.md" ] && [ -f "$B/o4/b.md" ] && [ -f "$B/o4/deeper/c.md" ]; then ok; else bad "@list outputs"; find "$B/o4"; fi
    sh -c 'exit 0' & wait $!; dead=$!
    printf 'half' > "$B/o4/a.md.tmp.$dead"; printf 'x' > "$B/o4/keep.tmp.$dead"
    expect 3 "removed 1 temporary file left by an interrupted run" "stale temporaries of a killed run removed" -- "$BIN" --model "$T/ds_ocr_mha" $TINY -o "$B/o4" "@$B/list.txt"
    if [ ! -e "$B/o4/a.md.tmp.$dead" ] && [ -e "$B/o4/keep.tmp.$dead" ]; then ok; else bad "stale cleanup"; ls -a "$B/o4"; fi
    expect 2 "pages: '3-1' is not a range" "--pages 3-1" -- "$BIN" --model "$T/ds_ocr_mha" $TINY --pages 3-1 "$IMG"
    expect 1 "1 page, none of them selected" "--pages past the end" -- "$BIN" --model "$T/ds_ocr_mha" $TINY --pages 2 "$IMG"
    expect 2 "--jobs: '0' is not an integer" "-j 0" -- "$BIN" --model "$T/ds_ocr_mha" -j 0 "$IMG"
    mkdir -p "$B/empty"
    expect 1 "no input files found" "a directory without images" -- "$BIN" --model "$T/ds_ocr_mha" $TINY -o "$B/o5" "$B/empty"
    # stdout keeps input order with several workers
    "$BIN" --model "$T/ds_ocr_mha" $TINY -f json -q "$IMG" "$SMALL" > "$B/s1.json" 2>/dev/null
    "$BIN" --model "$T/ds_ocr_mha" $TINY -f json -q -j 2 "$IMG" "$SMALL" > "$B/s2.json" 2>/dev/null
    if cmp -s "$B/s1.json" "$B/s2.json" && [ "$(grep -c '"source"' "$B/s2.json")" -eq 2 ]; then ok; else bad "stdout order with -j 2"; fi
    }
else
    echo "SKIP batch: $DS or tests/data/dsocr/tokenizer.json not found"
fi

# ---- the default model on a whole page: layout + vlocr-nano lines +
# Markdown assembly (pipeline/pipe_nano.c, pipe_assemble.c). Structure only:
# the model's reading is not judged here.
if [ -f models/vlocr-nano/model.safetensors ] && [ -f models/vlocr-nano/config.json ]; then
    N="$T/nano"; mkdir -p "$N"
    "$BIN" samples/page-scan.jpg -o "$N/page.md" >"$T/out" 2>&1 && ok || { bad "vlocr page-scan.jpg -o page.md (vlocr-nano): exit $?"; cat "$T/out"; }
    if [ -s "$N/page.md" ] && grep -Eq '^#{1,2} [^ ]' "$N/page.md" &&
       grep -Evq '^(#|- |[0-9]+\. |\||<|\$\$|!\[|$)' "$N/page.md"; then ok
    else bad "page.md: a heading and a paragraph"; cat "$N/page.md"; fi
    "$BIN" samples/page-scan.jpg -f json,hocr --overlay -o "$N/p2.json" >"$T/out" 2>&1 && ok || { bad "-f json,hocr --overlay (vlocr-nano)"; cat "$T/out"; }
    if grep -q '"type":"page_number"\|"type":"text"' "$N/p2.json" && grep -q 'class="ocr_page"' "$N/p2.hocr" &&
       [ -s "$N/p2_overlay/1.png" ]; then ok; else bad "json/hocr/overlay outputs"; ls -R "$N"; fi
    mkdir -p "$N/in/sub"; cp samples/page-scan.jpg "$N/in/a.jpg"; cp samples/page-scan.jpg "$N/in/sub/b.jpg"
    expect 0 "2 done, 0 skipped" "-j 2 DIR -o OUT (vlocr-nano)" -- "$BIN" -j 2 "$N/in" -o "$N/out"
    if [ -s "$N/out/a.md" ] && cmp -s "$N/out/a.md" "$N/out/sub/b.md"; then ok; else bad "-j 2: same Markdown for the same page"; fi
    # --inverted-text on a page without dark grounds changes nothing.
    "$BIN" --inverted-text samples/page-scan.jpg -o "$N/inv.md" >"$T/out" 2>&1 && cmp -s "$N/inv.md" "$N/page.md" && ok ||
        { bad "--inverted-text on a page with no dark ground: same Markdown"; cat "$T/out"; }
else
    echo "SKIP vlocr-nano pages: models/vlocr-nano/model.safetensors not found"
fi

# ---- samples/: the layout of each sample page against its expected
# Markdown (samples/README.md; made by samples/make/make.sh). Structure as
# `vlocr layout -f json` sees it, so independent of the model's reading:
# as many headings and tables as the expected Markdown has, the table
# grids, the display formulas and the page number.
if [ -f models/vlocr-nano/model.safetensors ]; then
    # sample_blocks FILE: the page's JSON, whitespace removed, in $T/lay.json
    sample_blocks() { "$BIN" layout -f json "$1" 2>"$T/out" | tr -d ' \n' > "$T/lay.json"; }
    nblk()  { grep -o "\"type\":\"$1\"" "$T/lay.json" | wc -l; }
    for s in page-scan.jpg two-column.jpg table.png; do
        md=samples/${s%.*}.md
        if ! sample_blocks "samples/$s" || [ ! -s "$T/lay.json" ]; then bad "vlocr layout -f json samples/$s"; cat "$T/out"; continue; fi
        want_h=$(grep -c '^#' "$md"); want_t=$(grep -c '^| --- ' "$md")
        got_h=$(nblk heading); got_t=$(nblk table)
        if [ "$got_h" -eq "$want_h" ] && [ "$got_t" -eq "$want_t" ]; then ok
        else bad "samples/$s: $got_h headings, $got_t tables; $md has $want_h, $want_t"; fi
        case $s in
        page-scan.jpg)
            if [ "$(nblk list_item)" -eq "$(grep -c '^- ' "$md")" ] && [ "$(nblk page_number)" -eq 1 ] &&
               grep -q '"rows":3,"cols":3' "$T/lay.json"; then ok
            else bad "samples/$s: 3 list items, a page number, a 3x3 table"; fi ;;
        two-column.jpg)
            if [ "$(nblk formula)" -ge $(( $(grep -c '^\$\$$' "$md") / 2 )) ] && [ "$(nblk page_number)" -eq 1 ]; then ok
            else bad "samples/$s: the display formulas and a page number"; fi ;;
        table.png)
            if grep -q '"rows":4,"cols":4' "$T/lay.json"; then ok; else bad "samples/$s: a 4x4 table"; fi ;;
        esac
    done
else
    echo "SKIP samples structure: models/vlocr-nano/model.safetensors not found"
fi

# ---- vlocr info on the shipped model: every tensor accounted for.
if [ -f models/vlocr-nano/model.safetensors ]; then
    expect 0 "vision: +vlocr-nano: conv stem" "info describes the nano encoder" -- "$BIN" info models/vlocr-nano
    expect 0 "0 missing, 0 misshaped, 0 unexpected" "info checks every nano tensor" -- "$BIN" info models/vlocr-nano
else
    echo "SKIP info on vlocr-nano: models/vlocr-nano/model.safetensors not found"
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
