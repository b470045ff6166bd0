#!/usr/bin/env bash
# Multi30K task 1 DE-EN; reads MULTI30K_DIR or --from DIR, else downloads.
# Usage: preprocess/prepare_multi30k_de_en.sh OUT_DIR [hgkd-prepare options, e.g. --vocab-size N --force]
# Result: OUT_DIR/data-bin (fairseq binarized, joint sentencepiece BPE). Reruns skip finished steps.
source "$(dirname "$0")/_tool.sh"
[ $# -ge 1 ] || { echo "usage: $0 OUT_DIR [hgkd-prepare options]" >&2; exit 2; }
out="$1"; shift
exec "$HGKD_PREPARE" multi30k_de_en --out "$out" "$@"
