#!/usr/bin/env bash
# Hard-gate KD on WMT14 EN->DE (Europarl v7 + Common Crawl + News Commentary v9; newstest2013
# valid, newstest2014 test). Model: fairseq's transformer_wmt_en_de (Transformer base).
#   GPUS=8 PRECISION=fp16 FROM=/path/to/wmt14 recipes/wmt14_en_de.sh
# PAPER_TRAIN_ARGS assume 8 GPUs (8 x 4096 tokens per update); add --update-freq on fewer GPUs.
# PRESET=cpu uses 30k training pairs and a small model. See recipes/_common.sh for every variable.
source "$(dirname "$0")/_common.sh"

PAPER_PREPARE_ARGS="--vocab-size 32000"
PAPER_MODEL_ARGS="--arch transformer_wmt_en_de --share-all-embeddings --dropout 0.1"
PAPER_TRAIN_ARGS="--optimizer adam --adam-betas (0.9,0.98) --clip-norm 0.0 --lr 7e-4 \
--lr-scheduler inverse_sqrt --warmup-updates 4000 --weight-decay 0.0 --max-tokens 4096 \
--max-update 100000 --save-interval-updates 5000 --keep-interval-updates 5"
PAPER_AVERAGE_LAST=1   # epochs are long on WMT: the best checkpoint by validation NLL
PAPER_GEN_ARGS="--beam 5 --lenpen 0.6"

run_with_source wmt14_en_de
