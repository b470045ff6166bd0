#!/usr/bin/env bash
# Hard-gate KD on your own parallel corpus: FROM=DIR holds train/valid/test.{SRC,TGT} (plain or .gz,
# one sentence per line, line-aligned). Settings follow the IWSLT recipe; override as needed.
#   SRC=de TGT=en FROM=/path/to/corpus WORKDIR=runs/mine recipes/local_corpus.sh
# See recipes/_common.sh for every variable.
source "$(dirname "$0")/_common.sh"

: "${SRC:?set SRC to the source language code, e.g. SRC=de}"
: "${TGT:?set TGT to the target language code, e.g. TGT=en}"
: "${FROM:?set FROM to the directory with train/valid/test.{SRC,TGT}}"
PAPER_PREPARE_ARGS="--vocab-size 10000 --src $SRC --tgt $TGT"
PAPER_MODEL_ARGS="--arch transformer_iwslt_de_en --share-all-embeddings --dropout 0.3"
PAPER_TRAIN_ARGS="--optimizer adam --adam-betas (0.9,0.98) --clip-norm 0.0 --lr 5e-4 \
--lr-scheduler inverse_sqrt --warmup-updates 4000 --weight-decay 0.0001 --max-tokens 4096 --max-epoch 50"
CPU_PREPARE_ARGS="--vocab-size 8000 --src $SRC --tgt $TGT"
SMOKE_PREPARE_ARGS="--vocab-size 1000 --src $SRC --tgt $TGT"

WORKDIR="${WORKDIR:-runs/local-$SRC-$TGT-$PRESET}"
run_with_source local
