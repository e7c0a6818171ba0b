#!/bin/sh
# samples/make/make.sh — rebuild the sample pages and their expected outputs.
#
#   sh samples/make/make.sh [OUTDIR]     (default: samples)
#
# Builds the library (make all), compiles samples/make/mksamples.c against
# it and runs it from the repository root. Needs the TeX of
# `make train-deps` (latex, dvipng, lmodern) and the fonts TeX Gyre Termes,
# Latin Modern Roman and DejaVu Sans. The outputs are committed; `make test`
# does not run this.
set -e
cd "$(dirname "$0")/../.."
OUT=${1:-samples}
make -s all
mkdir -p build/samples "$OUT"
PKGS="lept openblas cairo pangocairo jansson libpcre2-8 poppler-glib zlib libpng libjpeg"
${CC:-cc} -std=c11 -D_DEFAULT_SOURCE -O2 -g -Wall -Wextra -Wpedantic -Wshadow \
    -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla -Wpointer-arith \
    -Wcast-qual -Wno-format-truncation -Werror -I. $(pkg-config --cflags $PKGS) \
    -o build/samples/mksamples samples/make/mksamples.c build/libvlocr.a \
    $(pkg-config --libs $PKGS) -lm -lpthread
build/samples/mksamples "$OUT"
ls -l "$OUT"
