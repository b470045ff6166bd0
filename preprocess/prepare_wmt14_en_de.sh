#!/usr/bin/env bash
# WMT14 EN-DE; --from DIR with the WMT14 archives or files, else downloads.
# Usage: preprocess/prepare_wmt14_en_de.sh OUT_DIR [hgkd-prepare options, e.g. --vocab-size N --force]
# Result: OUT_DIR/data-bin (fairseq binarized, joint sentencepiece BPE). Reruns skip finished steps.
source "$(dirname "$0")/_tool.sh"
[ $# -ge 1 ] || { echo "usage: $0 OUT_DIR [hgkd-prepare options]" >&2; exit 2; }
out="$1"; shift
exec "$HGKD_PREPARE" wmt14_en_de --out "$out" "$@"
