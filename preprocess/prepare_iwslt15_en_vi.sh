#!/usr/bin/env bash
# IWSLT15 EN-VI (Stanford release); --from DIR with train/tst2012/tst2013, else downloads.
# Usage: preprocess/prepare_iwslt15_en_vi.sh OUT_DIR [hgkd-prepare options, e.g. --vocab-size N --force]
# Result: OUT_DIR/data-bin (fairseq binarized, joint sentencepiece BPE). Reruns skip finished steps.
source "$(dirname "$0")/_tool.sh"
[ $# -ge 1 ] || { echo "usage: $0 OUT_DIR [hgkd-prepare options]" >&2; exit 2; }
out="$1"; shift
exec "$HGKD_PREPARE" iwslt15_en_vi --out "$out" "$@"
