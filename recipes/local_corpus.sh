#!/usr/bin/env bash
# Hard-gate KD on your own parallel corpus: FROM=DIR holds train/valid/test.{SRC,TGT} (plain or .gz,
# one sentence per line, line-aligned). Settings follow the IWSLT recipe; override as needed.
#   SRC=de TGT=en FROM=/path/to/corpus WORKDIR=runs/mine recipes/local_corpus.sh
# See recipes/_common.sh for every variable.
source "$(dirname "$0")/_common.sh"
: "${SRC:?set SRC to the source language code, e.g. SRC=de}"
: "${TGT:?set TGT to the target language code, e.g. TGT=en}"
: "${FROM:?set FROM to the directory with train/valid/test.{SRC,TGT}}"

case "$PRESET" in
paper)
    DEFAULT_PREPARE_ARGS="--vocab-size 10000"
    DEFAULT_MODEL_ARGS="--arch transformer_iwslt_de_en --share-all-embeddings --dropout 0.3"
    DEFAULT_TRAIN_ARGS="--optimizer adam --adam-betas (0.9,0.98) --clip-norm 0.0 --lr 5e-4 \
--lr-scheduler inverse_sqrt --warmup-updates 4000 --weight-decay 0.0001 --max-tokens 4096 --max-epoch 50"
    DEFAULT_AVERAGE_LAST=5 ;;
cpu)
    DEFAULT_PREPARE_ARGS="--vocab-size 8000"
    DEFAULT_MODEL_ARGS="$CPU_MODEL_ARGS"
    DEFAULT_TRAIN_ARGS="$CPU_TRAIN_ARGS"
    DEFAULT_AVERAGE_LAST=1 ;;
smoke)
    DEFAULT_PREPARE_ARGS="--vocab-size 1000"
    DEFAULT_MODEL_ARGS="$SMOKE_MODEL_ARGS"
    DEFAULT_TRAIN_ARGS="$SMOKE_TRAIN_ARGS"
    DEFAULT_AVERAGE_LAST=1 ;;
esac
DEFAULT_GEN_ARGS="--beam 5 --lenpen 1.0"
DEFAULT_SEQ_KD_GEN_ARGS="--beam 5"

WORKDIR="${WORKDIR:-runs/local-$SRC-$TGT-$PRESET}"
PREPARE_ARGS="${PREPARE_ARGS:-$DEFAULT_PREPARE_ARGS} --src $SRC --tgt $TGT"
run_recipe local --from "$FROM"
