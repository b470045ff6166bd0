#!/usr/bin/env bash
# Hard-gate KD on Multi30K DE->EN (task 1, test_2016_flickr): teacher, Base, LS, word-KD, seq-KD,
# HKD-T and HKD-S with one budget, then WORKDIR/report.{json,md} and the reliability diagram.
#   PRESET=cpu  MULTI30K_DIR=/path/to/multi30k  recipes/multi30k_de_en.sh     (2 CPU cores, what make demo runs)
#   GPUS=1 recipes/multi30k_de_en.sh                                          (paper size)
# Data: read from MULTI30K_DIR (or FROM) when set, downloaded otherwise. See recipes/_common.sh.
source "$(dirname "$0")/_common.sh"

# The paper does not state its Multi30K settings in the text at hand; these follow fairseq's
# IWSLT'14 transformer recipe (transformer_iwslt_de_en), with warm-up scaled to Multi30K's
# ~130 updates per epoch at 4096 tokens.
PAPER_PREPARE_ARGS="--vocab-size 8000"
PAPER_MODEL_ARGS="--arch transformer_iwslt_de_en --share-all-embeddings --dropout 0.3"
PAPER_TRAIN_ARGS="--optimizer adam --adam-betas (0.9,0.98) --clip-norm 0.0 --lr 5e-4 \
--lr-scheduler inverse_sqrt --warmup-updates 1000 --weight-decay 0.0001 --max-tokens 4096 --max-epoch 60"
CPU_PREPARE_ARGS="--vocab-size 8000"   # all of Multi30K

FROM="${FROM:-${MULTI30K_DIR:-}}"
run_with_source multi30k_de_en
