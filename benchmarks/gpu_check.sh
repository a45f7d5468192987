#!/usr/bin/env bash
# The GPU check (issue "GPU-ready"), one script for a machine with a CUDA GPU, under 8 minutes:
# the training-speed rows (benchmarks/gpu_train_speed.py), then the suite's GPU-relevant tests
# (training, distributed, generation, serving, and tests/test_gpu.py's memory bound) with the peak
# GPU memory of each test. Run from the repository root:
#     bash benchmarks/gpu_check.sh DATA.csv TOKENIZER_FOLDER
# DATA.csv: text,label rows (20,000 train + 4,000 held out); TOKENIZER_FOLDER: the bundled MiniLM's
# tokenizer (models carry random weights: speed only). Python packages missing on the machine can
# be given as wheels in .whl/ (installed to /tmp/site, never into the system).
set -uo pipefail
DATA=${1:-.gpu/reviews.csv}
TOKENIZER=${2:-.gpu/minilm-tok}
LOG=${OUT:-/tmp}/gpu_check.log
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
{
nvidia-smi -L
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
if [ "${GPU_CHECK_SPEED:-1}" = 1 ]; then
    echo "== training speed"
    (cd benchmarks && timeout 290 python3 gpu_train_speed.py --data "../$DATA" --tokenizer "../$TOKENIZER" --out /tmp/gts)
fi
echo "== tests on the GPU"
timeout 200 python3 -m pytest -q -p no:cacheprovider --continue-on-collection-errors tests/test_gpu.py tests/test_train.py \
    tests/test_distributed.py tests/test_generation.py tests/test_server.py 2>&1 | tee "${OUT:-/tmp}/pytest.log" | tail -40
} 2>&1 | tee "$LOG"
