#!/usr/bin/env bash
# One prepared run for a session that is lent a GPU machine (the `device` tool): the device tests on
# real CuPy, then the benchmark harness on the GPU against PyTorch CUDA. Uses the machine's own Python
# (it holds CuPy, PyTorch with CUDA, numba, pytest, matplotlib, tqdm, threadpoolctl); glassnet runs
# from src/ without installing. Results go to $OUT (the device tool brings that folder back), else to
# benchmarks/results/. About 5 minutes on an H100.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/results}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python3}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu-check.txt"
"$PY" -c "import cupy, torch, numpy; print('cupy', cupy.__version__, 'torch', torch.__version__, 'numpy', numpy.__version__)" \
  | tee -a "$OUT/gpu-check.txt"
# every layer, loss and optimizer on device="gpu" next to the CPU (tests/test_device.py)
GLASSNET_TEST_GPU=1 "$PY" -m pytest -q -p no:cacheprovider tests/test_device.py 2>&1 | tail -25 | tee -a "$OUT/gpu-check.txt"
# the harness: glassnet and the GEMM floor on CuPy, PyTorch on CUDA (scikit-learn has no GPU)
"$PY" benchmarks/run_bench.py --device gpu --repeats 3 --workloads wide,small,deep,fcn,cnn,lstm --out "$OUT" \
  2>&1 | tail -60 | tee -a "$OUT/gpu-check.txt"
