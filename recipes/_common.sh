# Sourced by the recipe scripts. Finds hgkd-recipe and turns the documented environment variables
# into its options; each recipe script only states its dataset's settings and presets.
#
# Variables (all optional):
#   PRESET        paper | cpu | smoke                       (default: paper)
#   WORKDIR       output directory                          (default: runs/<dataset>-<preset>)
#   GPUS          GPUs per node, 0 = CPU                    (default: 1 for paper, 0 otherwise)
#   NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT   multi-node training through torchrun
#   LAUNCHER      your own command prefix for fairseq-train (e.g. a torchrun or srun line)
#   PRECISION     fp32 | fp16 | bf16                        (default: fp32)
#   PARALLEL      CPU only: students trained at once, the teacher's seq-KD decoding counting as
#                 part of the seq_kd student (default: 2 for the cpu and smoke presets, 1 otherwise)
#   SYSTEMS       students to train (default: base ls word_kd seq_kd hgkd_token hgkd_sentence)
#   REDO          finished steps to redo: all, prepare, teacher, temperature, seq_kd_data,
#                 a student's name, generate, report
#   MODEL_ARGS, TRAIN_ARGS, TEACHER_MODEL_ARGS, TEACHER_TRAIN_ARGS, GEN_ARGS, SEQ_KD_GEN_ARGS,
#   PREPARE_ARGS, AVERAGE_LAST, TEACHER_TEMPERATURE (fit | number), EVAL_SUBSETS, SEED
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -x "$REPO_ROOT/.venv/bin/hgkd-recipe" ]; then
    HGKD_RECIPE="$REPO_ROOT/.venv/bin/hgkd-recipe"
else
    HGKD_RECIPE="$(command -v hgkd-recipe || true)"
fi
if [ -z "$HGKD_RECIPE" ]; then
    echo "$(basename "$0"): error: hgkd-recipe not found; run 'make install' in $REPO_ROOT first" >&2
    exit 2
fi

PRESET="${PRESET:-paper}"
case "$PRESET" in
    paper | cpu | smoke) ;;
    *) echo "$(basename "$0"): error: PRESET must be paper, cpu or smoke (got '$PRESET')" >&2; exit 2 ;;
esac

# run_recipe DATASET [extra hgkd-recipe options...]
# The calling script sets PAPER_PREPARE_ARGS, PAPER_MODEL_ARGS, PAPER_TRAIN_ARGS and optionally
# PAPER_AVERAGE_LAST, PAPER_GEN_ARGS and CPU_PREPARE_ARGS; the cpu and smoke presets are shared.
run_recipe() {
    local dataset="$1"
    shift
    local prepare model train average gen seq_kd_gen default_gpus=0 default_parallel=1
    case "$PRESET" in
    paper)
        prepare="$PAPER_PREPARE_ARGS" model="$PAPER_MODEL_ARGS" train="$PAPER_TRAIN_ARGS"
        average="${PAPER_AVERAGE_LAST:-5}" gen="${PAPER_GEN_ARGS:-"--beam 5 --lenpen 1.0"}"
        seq_kd_gen="--beam 5" default_gpus=1 ;;
    cpu)
        prepare="${CPU_PREPARE_ARGS:-"--vocab-size 8000 --train-limit 30000"}"
        model="$CPU_MODEL_ARGS" train="$CPU_TRAIN_ARGS" average=1
        gen="--beam 5 --lenpen 1.0" seq_kd_gen="--beam 5" ;;
    smoke)  # untrained models would decode to the maximum length: cap it
        prepare="$SMOKE_PREPARE_ARGS" model="$SMOKE_MODEL_ARGS" train="$SMOKE_TRAIN_ARGS" average=1
        gen="--beam 2 --max-len-a 1.2 --max-len-b 10" seq_kd_gen="--beam 1 --max-len-a 1.2 --max-len-b 10" ;;
    esac
    # on CPU, two single-threaded jobs at once use 2 cores better than one two-threaded job
    if [ "$PRESET" != paper ] && [ "${GPUS:-0}" = 0 ]; then default_parallel=2; fi
    exec "$HGKD_RECIPE" \
        --dataset "$dataset" \
        --workdir "${WORKDIR:-runs/$dataset-$PRESET}" \
        --prepare-args "${PREPARE_ARGS:-$prepare}" \
        --model-args "${MODEL_ARGS:-$model}" \
        --train-args "${TRAIN_ARGS:-$train}" \
        --teacher-model-args "${TEACHER_MODEL_ARGS:-${MODEL_ARGS:-$model}}" \
        --teacher-train-args "${TEACHER_TRAIN_ARGS:-${TRAIN_ARGS:-$train}}" \
        --gen-args "${GEN_ARGS:-$gen}" \
        --seq-kd-gen-args "${SEQ_KD_GEN_ARGS:-$seq_kd_gen}" \
        --average-last "${AVERAGE_LAST:-$average}" \
        --teacher-temperature "${TEACHER_TEMPERATURE:-fit}" \
        --eval-subsets "${EVAL_SUBSETS:-test}" \
        --systems "${SYSTEMS:-base ls word_kd seq_kd hgkd_token hgkd_sentence}" \
        --gpus "${GPUS:-$default_gpus}" \
        --parallel "${PARALLEL:-$default_parallel}" \
        --precision "${PRECISION:-fp32}" \
        --nnodes "${NNODES:-1}" \
        --node-rank "${NODE_RANK:-0}" \
        --launcher "${LAUNCHER:-}" \
        --redo "${REDO:-}" \
        --seed "${SEED:-1}" \
        --label "preset=$PRESET" \
        "$@"
}

# run_with_source DATASET: adds --from "$FROM" when FROM is set
run_with_source() {
    if [ -n "${FROM:-}" ]; then run_recipe "$1" --from "$FROM"; else run_recipe "$1"; fi
}

# Presets shared by every dataset: a tiny model for tests, a small one that runs on 2 CPU cores.
SMOKE_MODEL_ARGS="--arch transformer --share-all-embeddings --encoder-layers 1 --decoder-layers 1 \
--encoder-embed-dim 32 --decoder-embed-dim 32 --encoder-ffn-embed-dim 64 --decoder-ffn-embed-dim 64 \
--encoder-attention-heads 2 --decoder-attention-heads 2"
SMOKE_TRAIN_ARGS="--optimizer adam --lr 2e-3 --max-tokens 2000 --max-update 20 --max-valid-steps 2 \
--num-workers 0"
SMOKE_PREPARE_ARGS="--vocab-size 1000 --train-limit 2000"
CPU_MODEL_ARGS="--arch transformer --share-all-embeddings --encoder-layers 2 --decoder-layers 2 \
--encoder-embed-dim 128 --decoder-embed-dim 128 --encoder-ffn-embed-dim 512 --decoder-ffn-embed-dim 512 \
--encoder-attention-heads 4 --decoder-attention-heads 4 --dropout 0.1"
CPU_TRAIN_ARGS="--optimizer adam --adam-betas (0.9,0.98) --lr 2e-3 --lr-scheduler inverse_sqrt \
--warmup-updates 150 --max-tokens 4096 --max-epoch 2 --num-workers 0"
