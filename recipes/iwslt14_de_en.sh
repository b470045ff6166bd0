#!/usr/bin/env bash
# Hard-gate KD on IWSLT14 DE->EN (fairseq's split: valid from train, dev2010+TEDX dev2012+tst2010-12
# as test). Model and optimization follow fairseq's examples/translation IWSLT'14 recipe.
#   GPUS=1 FROM=/path/to/de-en.tgz recipes/iwslt14_de_en.sh      (paper size; downloads without FROM)
# See recipes/_common.sh for every variable.
source "$(dirname "$0")/_common.sh"

case "$PRESET" in
paper)
    DEFAULT_PREPARE_ARGS="--vocab-size 10000"
    DEFAULT_MODEL_ARGS="--arch transformer_iwslt_de_en --share-all-embeddings --dropout 0.3"
    DEFAULT_TRAIN_ARGS="--optimizer adam --adam-betas (0.9,0.98) --clip-norm 0.0 --lr 5e-4 \
--lr-scheduler inverse_sqrt --warmup-updates 4000 --weight-decay 0.0001 --max-tokens 4096 --max-epoch 50"
    DEFAULT_AVERAGE_LAST=5 ;;
cpu)  # a CPU-sized look at the pipeline: 30k training pairs, small model
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

if [ -n "${FROM:-}" ]; then run_recipe iwslt14_de_en --from "$FROM"; else run_recipe iwslt14_de_en; fi
