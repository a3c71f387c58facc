#!/bin/sh
# The reproduction, one run after another, at low priority (2 shared cores): GunPoint with the three
# architectures, then the other univariate UCR sets in aeon's wheel with FCN at the epochs a 2-core CPU
# affords in about 15 minutes each. Logs go to benchmarks/tsc/results/logs/.
set -e
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
# One BLAS thread: on 2 cores shared with other work, two OpenBLAS threads spin-wait on each other and the
# MLP's small matrix products ran 20x slower (FCN 1.8x, ResNet 1.4x) than with one.
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
mkdir -p benchmarks/tsc/results/logs
run() {  # DATASET ARCH EPOCHS
    nice -n 10 "$PY" benchmarks/tsc/run.py "$1" "$2" --epochs "$3" > "benchmarks/tsc/results/logs/$1-$2.log" 2>&1
}
run GunPoint fcn 2000
run GunPoint mlp 5000
run GunPoint resnet 1500
run ItalyPowerDemand fcn 2000
run ArrowHead fcn 2000
run ItalyPowerDemand mlp 5000
run ItalyPowerDemand resnet 1500
# about 15 minutes each on 2 shared cores: far fewer epochs than the paper's 2000
run OSULeaf fcn 250
run PickupGestureWiimoteZ fcn 1000
run ACSF1 fcn 150
"$PY" benchmarks/tsc/run.py --table
