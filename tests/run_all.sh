#!/bin/sh
# Run every test binary given; report all failures, exit non-zero if any.
failed=""
for t in "$@"; do
    echo "== $t"
    if ! "$t"; then failed="$failed $t"; fi
done
if [ -n "$failed" ]; then
    echo "FAILED:$failed"
    exit 1
fi
echo "all $# test binaries passed"
