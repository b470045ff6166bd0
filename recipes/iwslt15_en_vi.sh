#!/usr/bin/env bash
# Hard-gate KD on IWSLT15 EN->VI (Stanford's preprocessed release: train / tst2012 / tst2013).
# Model and optimization: fairseq's transformer_iwslt_de_en recipe, as commonly used for en-vi.
#   GPUS=1 FROM=/path/to/iwslt15-en-vi recipes/iwslt15_en_vi.sh   (paper size; downloads without FROM)
# See recipes/_common.sh for every variable.
source "$(dirname "$0")/_common.sh"

case "$PRESET" in
paper)
    DEFAULT_PREPARE_ARGS="--vocab-size 8000"
    DEFAULT_MODEL_ARGS="--arch transformer_iwslt_de_en --share-all-embeddings --dropout 0.3"
    DEFAULT_TRAIN_ARGS="--optimizer adam --adam-betas (0.9,0.98) --clip-norm 0.0 --lr 5e-4 \
--lr-scheduler inverse_sqrt --warmup-updates 4000 --weight-decay 0.0001 --max-tokens 4096 --max-epoch 50"
    DEFAULT_AVERAGE_LAST=5 ;;
cpu)
    DEFAULT_PREPARE_ARGS="--vocab-size 8000 --train-limit 30000"
    DEFAULT_MODEL_ARGS="$CPU_MODEL_ARGS"
    DEFAULT_TRAIN_ARGS="$CPU_TRAIN_ARGS"
    DEFAULT_AVERAGE_LAST=1 ;;
smoke)
    DEFAULT_PREPARE_ARGS="$SMOKE_PREPARE_ARGS"
    DEFAULT_MODEL_ARGS="$SMOKE_MODEL_ARGS"
    DEFAULT_TRAIN_ARGS="$SMOKE_TRAIN_ARGS"
    DEFAULT_AVERAGE_LAST=1 ;;
esac
DEFAULT_GEN_ARGS="--beam 5 --lenpen 1.0"
DEFAULT_SEQ_KD_GEN_ARGS="--beam 5"

if [ -n "${FROM:-}" ]; then run_recipe iwslt15_en_vi --from "$FROM"; else run_recipe iwslt15_en_vi; fi
