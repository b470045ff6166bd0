#!/usr/bin/env bash
# Hard-gate KD on IWSLT15 EN->VI (Stanford's preprocessed release: train / tst2012 / tst2013).
# Model and optimization: fairseq's transformer_iwslt_de_en recipe, as commonly used for en-vi.
#   GPUS=1 FROM=/path/to/iwslt15-en-vi recipes/iwslt15_en_vi.sh   (paper size; downloads without FROM)
# PRESET=cpu uses 30k training pairs and a small model. See recipes/_common.sh for every variable.
source "$(dirname "$0")/_common.sh"

PAPER_PREPARE_ARGS="--vocab-size 8000"
PAPER_MODEL_ARGS="--arch transformer_iwslt_de_en --share-all-embeddings --dropout 0.3"
PAPER_TRAIN_ARGS="--optimizer adam --adam-betas (0.9,0.98) --clip-norm 0.0 --lr 5e-4 \
--lr-scheduler inverse_sqrt --warmup-updates 4000 --weight-decay 0.0001 --max-tokens 4096 --max-epoch 50"

run_with_source iwslt15_en_vi
