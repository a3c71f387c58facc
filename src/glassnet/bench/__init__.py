"""The benchmark harness behind ``glassnet bench``: seconds per epoch against the GEMM floor and peers.

Workloads are MLPs (wide, small, deep, and the sweep), two conv nets (:class:`ConvNet`): Wang et
al.'s FCN on GunPoint-sized series and the digits CNN, and an LSTM over sequences (:class:`LSTMNet`,
backpropagation through time). For each workload, in this one process, on the
same synthetic data (seeded), the same architecture and the same initial weights, with Adam (lr 1e-3,
eps 1e-7), the same batch size, float32 and the same thread count, the harness times one training
epoch of

- ``glassnet``: ``model.fit(X, y, epochs=1, verbose=0, shuffle=True)``;
- ``floor``: NumPy doing only the matrix products an epoch needs, into preallocated outputs: per batch
  and layer ``Z = X·W``, ``dW = Xᵀ·dZ`` and (not for the first layer) ``dX = dZ·Wᵀ`` (for a
  convolution, X is its im2col matrix; for an LSTM, ``X·W`` for all steps, ``h·U`` and ``dG·Uᵀ`` per
  step, then ``dW`` and ``dU``);
- ``torch``: PyTorch CPU, ``torch.nn`` + ``torch.optim.Adam`` in a plain loop over shuffled batches
  (the same layers, translated by :func:`~glassnet.bench.nets.torch_twin`);
- ``sklearn``: ``MLPClassifier(solver="adam", alpha=0).partial_fit`` (one epoch per call; MLPs only).

Each contestant is built and trained for one warm-up epoch (memory is measured there, not timed), then
the contestants take turns for ``repeats`` timed epochs, so a load spike on a shared machine hits all
of them alike; the report gives the median. Peers are imported lazily and skipped when missing.

Memory: ``peak_rss_mib`` is the growth of the resident set over building the model and its first epoch
(Linux VmHWM, reset through /proc/self/clear_refs, after ``malloc_trim``; a 1 ms sampler of
/proc/self/statm where the reset is not allowed). It counts every allocator alike, torch's included.
``peak_traced_mib`` is tracemalloc's peak over the same span, which sees NumPy's buffers but not
torch's, so it is given only for the NumPy-based contestants.
"""

from .contestants import CONTESTANTS, evaluate, make_data
from .harness import DEFAULT, SWEEP, WORKLOADS, Sweep, Workload, run, run_sweep, run_workload
from .measure import PeakRSS, blas_threads, environment
from .nets import ConvNet, LSTMNet
from .report import plot, to_markdown, write_json

__all__ = ["CONTESTANTS", "DEFAULT", "SWEEP", "WORKLOADS", "ConvNet", "LSTMNet", "PeakRSS", "Sweep", "Workload",
           "blas_threads", "environment", "evaluate", "make_data", "plot", "run", "run_sweep", "run_workload",
           "to_markdown", "write_json"]
