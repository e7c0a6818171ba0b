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

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
