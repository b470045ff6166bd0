#!/usr/bin/env bash
# Hard-gate KD on IWSLT14 DE->EN (fairseq's split: valid from train, dev2010+TEDX dev2012+tst2010-12
# as test). Model and optimization follow fairseq's examples/translation IWSLT'14 recipe.
#   GPUS=1 FROM=/path/to/de-en.tgz recipes/iwslt14_de_en.sh      (paper size; downloads without FROM)
# PRESET=cpu uses 30k training pairs and a small model. See recipes/_common.sh for every variable.
source "$(dirname "$0")/_common.sh"

PAPER_PREPARE_ARGS="--vocab-size 10000"
PAPER_MODEL_ARGS="--arch transformer_iwslt_de_en --share-all-embeddings --dropout 0.3"
PAPER_TRAIN_ARGS="--optimizer adam --adam-betas (0.9,0.98) --clip-norm 0.0 --lr 5e-4 \
--lr-scheduler inverse_sqrt --warmup-updates 4000 --weight-decay 0.0001 --max-tokens 4096 --max-epoch 50"

run_with_source iwslt14_de_en
