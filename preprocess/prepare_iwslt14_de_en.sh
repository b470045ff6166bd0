#!/usr/bin/env bash
# IWSLT14 DE-EN with fairseq's split; --from de-en.tgz (or its directory), else downloads.
# Usage: preprocess/prepare_iwslt14_de_en.sh OUT_DIR [hgkd-prepare options, e.g. --vocab-size N --force]
# Result: OUT_DIR/data-bin (fairseq binarized, joint sentencepiece BPE). Reruns skip finished steps.
source "$(dirname "$0")/_tool.sh"
[ $# -ge 1 ] || { echo "usage: $0 OUT_DIR [hgkd-prepare options]" >&2; exit 2; }
out="$1"; shift
exec "$HGKD_PREPARE" iwslt14_de_en --out "$out" "$@"
