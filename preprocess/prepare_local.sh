#!/usr/bin/env bash
# Any local parallel corpus: DIR holds train/valid/test.{SRC,TGT} (plain or .gz), line-aligned.
# Usage: preprocess/prepare_local.sh SRC TGT DIR OUT_DIR [hgkd-prepare options]
source "$(dirname "$0")/_tool.sh"
[ $# -ge 4 ] || { echo "usage: $0 SRC TGT DIR OUT_DIR [hgkd-prepare options]" >&2; exit 2; }
src="$1" tgt="$2" from="$3" out="$4"; shift 4
exec "$HGKD_PREPARE" local --src "$src" --tgt "$tgt" --from "$from" --out "$out" "$@"
