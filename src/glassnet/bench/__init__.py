"""The benchmark harness behind ``glassnet bench``: seconds per epoch against the GEMM floor and peers.

Workloads are MLPs (wide, small, deep, and the sweep), two conv nets (:class:`ConvNet`): Wang et
al.'s FCN on GunPoint-sized series and the digits CNN, and an LSTM and a GRU over sequences
(:class:`LSTMNet`, :class:`GRUNet`: backpropagation through time). For each workload, in this one process, on the
same synthetic data (seeded), the same architecture and the same initial weights, with Adam (lr 1e-3,
eps 1e-7), the same batch size, float32 and the same thread count, the harness times one training
epoch of

- ``glassnet``: ``model.fit(X, y, epochs=1, verbose=0, shuffle=True)``;
- ``floor``: NumPy doing only the matrix products an epoch needs, into preallocated outputs: per batch
  and layer ``Z = X·W``, ``dW = Xᵀ·dZ`` and (not for the first layer) ``dX = dZ·Wᵀ`` (for a
  convolution, X is its im2col matrix; for an LSTM or a GRU, ``X·W`` for all steps, ``h·U`` and ``dG·Uᵀ``
  per step, then ``dW`` and ``dU``);
- ``torch``: PyTorch, ``torch.nn`` + ``torch.optim.Adam`` in a plain loop over shuffled batches
  (the same layers, translated by :func:`~glassnet.bench.nets.torch_twin`);
- ``sklearn``: ``MLPClassifier(solver="adam", alpha=0).partial_fit`` (one epoch per call; MLPs only).

Each contestant is built and trained for one warm-up epoch (memory is measured there, not timed), then
the contestants take turns for ``repeats`` timed epochs, so a load spike on a shared machine hits all
of them alike; the report gives the median. Peers are imported lazily and skipped when missing.

Device: ``run(..., device="gpu")`` (``glassnet bench --device gpu``) puts glassnet's model on CuPy
(``model.to``), does the floor's products with CuPy, runs PyTorch on ``"cuda"`` (skipped if
``torch.cuda.is_available()`` is false) and skips scikit-learn; every epoch ends with a device
synchronize before the clock is read. Any other registered device (the tests' ``"fakegpu"``) runs
glassnet and the floor and skips both peers. The report's ``device`` names the card.

Memory: ``peak_rss_mib`` is the growth of the resident set over building the model and its first epoch
(Linux VmHWM, reset through /proc/self/clear_refs, after ``malloc_trim``; a 1 ms sampler of
/proc/self/statm where the reset is not allowed). It counts every allocator alike, torch's included.
``peak_traced_mib`` is tracemalloc's peak over the same span, which sees NumPy's buffers but not
torch's, so it is given only for the NumPy-based contestants. On a GPU, ``peak_device_mib`` is the growth
of CuPy's memory pool (torch: of its caching allocator's reserved memory); see :class:`PeakDeviceMemory`.
"""

from .contestants import CONTESTANTS, evaluate, make_data
from .harness import DEFAULT, SWEEP, WORKLOADS, Sweep, Workload, run, run_sweep, run_workload
from .measure import PeakDeviceMemory, PeakRSS, blas_threads, device_info, environment
from .nets import ConvNet, GRUNet, LSTMNet
from .report import plot, to_markdown, write_json

__all__ = ["CONTESTANTS", "DEFAULT", "SWEEP", "WORKLOADS", "ConvNet", "GRUNet", "LSTMNet", "PeakDeviceMemory", "PeakRSS",
           "Sweep", "Workload", "blas_threads", "device_info", "environment", "evaluate", "make_data", "plot", "run",
           "run_sweep", "run_workload", "to_markdown", "write_json"]
