"""Hyperparameter search over scikit-learn estimators, on this machine's cores or on a Dask cluster.

:func:`search` runs scikit-learn's own search classes (``GridSearchCV``, ``RandomizedSearchCV``,
``HalvingGridSearchCV``/``HalvingRandomSearchCV``) and returns a :class:`SearchResult`: one record per
candidate, best first, with scikit-learn's ``cv_results_`` names, and the best estimator refit on all rows::

    from glassnet.sklearn import GlassClassifier
    from glassnet.search import search
    result = search(GlassClassifier(epochs=20), {"hidden_layer_sizes": [(32,), (64, 32)],
                                                 "learning_rate": [1e-3, 1e-2]}, X, y, cv=3, random_state=0)
    result.results[0]          # {"params": {...}, "mean_test_score": 0.95, "std_test_score": ..., ...}
    result.best_estimator.model_.save("best.glassnet")

Where the fits run: without ``scheduler``, in one process per core (joblib's loky backend); with
``scheduler="tcp://host:8786"`` (or a ``distributed.Client``), on that Dask cluster through joblib's
``dask`` backend. There the data is scattered to every worker once, before the first fit, and every fit
reads it from the worker's memory; a worker that dies mid-search has its fits rerun elsewhere by Dask.
The same ``random_state`` gives the same scores on either, bit for bit: each fit is one estimator with
a fixed seed on fixed rows, wherever it runs. The refit of the best candidate runs here.

A search of K candidates × F folds is K·F independent fits: that is what more cores or machines speed
up. One fit (one network's training) always runs in one process.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

try:
    import joblib
    from sklearn.base import clone, is_classifier
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401  (makes the Halving classes importable)
    from sklearn.metrics import check_scoring
    from sklearn.model_selection import (
        GridSearchCV,
        HalvingGridSearchCV,
        HalvingRandomSearchCV,
        ParameterGrid,
        ParameterSampler,
        RandomizedSearchCV,
        check_cv,
    )
except ImportError as e:
    raise ImportError("glassnet.search needs scikit-learn 1.6 or later: pip install 'glassnet[sklearn]'") from e

from .atomic import atomic_open
from .checks import check_non_negative_int, check_positive_int, is_int
from .data import write_csv
from .errors import ConfigError, DataError, GlassnetError, invalid_value
from .jsonable import to_jsonable
from .sklearn import _GlassEstimator

__all__ = ["CONNECT_TIMEOUT_S", "METHODS", "SearchResult", "check_params", "search"]

#: the search methods: every combination, a random sample of them, successive halving over epochs
METHODS = ("grid", "random", "halving")
#: seconds to wait for a Dask scheduler to answer before giving up
CONNECT_TIMEOUT_S = 5.0
#: halving keeps the best 1/FACTOR of the candidates and gives them FACTOR times the epochs
HALVING_FACTOR = 3


@dataclass(frozen=True)
class SearchResult:
    """What :func:`search` found: every candidate's cross-validated score, best first.

    Attributes
    ----------
    results : list of dict
        One record per candidate (per candidate and iteration for ``halving``), best first, with
        scikit-learn's ``cv_results_`` names: ``params``, ``mean_test_score``, ``std_test_score``,
        ``rank_test_score``, ``mean_fit_time``, ``std_fit_time``, ``mean_score_time`` and
        ``split{k}_test_score`` per fold; ``halving`` adds ``iter`` and ``n_resources`` (epochs).
    best_params : dict
    best_score : float
        The best candidate's mean test score (of the last iteration for ``halving``).
    best_estimator : estimator
        A clone of the estimator with ``best_params``, refit on all rows.
    method : str
    scoring : str
        The score's name: ``scoring`` as given, or "score" (the estimator's own: accuracy, R²).
    n_splits : int
        Folds per candidate.
    n_fits : int
        Fits run in the search (candidates × folds, summed over halving's iterations), not counting the refit.
    seconds : float
        Wall time of the search and the refit.
    where : str
        "local: N processes" or the scheduler's address with its workers and threads.
    cv_results : dict
        scikit-learn's ``cv_results_`` as it is.
    """

    results: list[dict]
    best_params: dict
    best_score: float
    best_estimator: Any
    method: str
    scoring: str
    n_splits: int
    n_fits: int
    seconds: float
    where: str
    cv_results: dict = field(repr=False)

    def to_dict(self) -> dict:
        """The result as JSON-ready data: the facts of the search and ``results`` (best first)."""
        return _jsonable({"method": self.method, "scoring": self.scoring, "cv": self.n_splits,
                          "n_candidates": len(self.results), "n_fits": self.n_fits, "seconds": self.seconds,
                          "where": self.where, "best_params": self.best_params, "best_score": self.best_score,
                          "results": self.results})

    def to_json(self, path) -> None:
        """Write :meth:`to_dict` to ``path`` as JSON (atomically)."""
        import json

        with atomic_open(path, "w", error_cls=DataError, encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=1)
            f.write("\n")

    def to_csv(self, path) -> None:
        """Write the table to ``path`` as CSV: one row per record, best first, one ``param_<name>`` column
        per searched parameter (tuples and other objects as Python literals, e.g. ``(64, 32)``)."""
        names = sorted({k for r in self.results for k in r["params"]})
        columns = [k for k in self.results[0] if k != "params"] + [f"param_{k}" for k in names]
        rows = [[r[k] for k in columns[: len(columns) - len(names)]] + [_cell(r["params"].get(k, "")) for k in names]
                for r in self.results]
        write_csv(path, columns, rows)


def search(estimator, params, X, y, cv=5, method: str = "grid", n_iter: int = 10, scheduler=None,
           random_state: int | None = None, scoring=None, progress: bool = True, *,
           connect_timeout: float = CONNECT_TIMEOUT_S) -> SearchResult:
    """Cross-validate every candidate of ``params`` and refit the best one on all rows.

    Parameters
    ----------
    estimator : scikit-learn estimator
        Usually a :class:`~glassnet.sklearn.GlassClassifier` or ``GlassRegressor`` (or a ``Pipeline``
        ending in one); its other settings stay as they are.
    params : dict or list of dict
        Parameter name → list of values (``{"learning_rate": [1e-3, 1e-2]}``); a list of such dicts
        searches each grid. ``method="random"`` also takes scipy distributions (``loguniform(1e-4, 1e-1)``).
    X : array-like, shape (samples, features)
    y : array-like, shape (samples,) or (samples, targets)
    cv : int or cross-validation splitter, default 5
        Folds: stratified for a classifier, as in scikit-learn; not shuffled, so every candidate sees the same folds.
    method : {"grid", "random", "halving"}, default "grid"
        "grid": every combination; "random": ``n_iter`` of them drawn with ``random_state``; "halving":
        successive halving with the estimator's ``epochs`` as the resource: every candidate trains a
        few epochs, the best third goes on with three times as many, up to ``epochs``.
    n_iter : int, default 10
        Candidates drawn by "random" (at most the grid's size), and by "halving" over distributions.
    scheduler : str, distributed.Client or None, default None
        None: every core of this machine. A Dask scheduler's address (``"tcp://host:8786"``) or a
        connected ``distributed.Client``: that cluster's workers.
    random_state : int or None, default None
        Seeds the draw of candidates and, when the estimator's own ``random_state`` is None, every fit.
    scoring : str, callable or None, default None
        A scikit-learn scorer name ("accuracy", "neg_log_loss", "r2", ...); None: the estimator's ``score``.
    progress : bool, default True
        Print the fits done, out of all, and the best score so far to stderr.
    connect_timeout : float, default 5.0
        Seconds to wait for the scheduler to answer.

    Returns
    -------
    SearchResult

    Raises
    ------
    ConfigError
        Before any fit: an unknown method or parameter name, an empty list of values, a value the
        estimator refuses (checked by building each candidate's network without training it), epochs
        searched by "halving", cv < 2, an unknown scorer; a scheduler that does not answer within
        ``connect_timeout`` seconds, or one without workers.
    """
    if method not in METHODS:
        raise invalid_value("method", method, f"one of {', '.join(METHODS)}")
    if not hasattr(estimator, "get_params") or not hasattr(estimator, "fit"):
        raise invalid_value("estimator", estimator, "a scikit-learn estimator such as GlassClassifier()")
    grids = check_params(estimator, params, method)
    sampled = any(hasattr(v, "rvs") for g in grids for v in g.values())
    n_iter = check_positive_int("n_iter", n_iter)
    if random_state is not None:
        random_state = check_non_negative_int("random_state", random_state)
    if is_int(cv) and not isinstance(cv, bool):
        if cv < 2:
            raise invalid_value("cv", cv, "an integer of at least 2 (folds) or a cross-validation splitter")
    elif not hasattr(cv, "split"):
        raise invalid_value("cv", cv, "an integer of at least 2 (folds) or a cross-validation splitter")
    try:
        check_scoring(estimator, scoring)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"scoring={scoring!r}: {e}") from None
    estimator = clone(estimator)
    if random_state is not None and "random_state" in estimator.get_params() \
            and estimator.get_params()["random_state"] is None:
        estimator.set_params(random_state=random_state)
    if not hasattr(X, "iloc") and not isinstance(X, np.ndarray):
        X = np.asarray(X)  # one object for the whole search: joblib's scatter matches it by identity
    if not hasattr(y, "iloc") and not isinstance(y, np.ndarray):
        y = np.asarray(y)

    # The folds, computed once as scikit-learn would: the same row indices for every candidate, and on a
    # cluster objects to scatter with X and y (joblib would scatter each to one worker only, and a worker
    # lost with them would lose them for good).
    folds = list(check_cv(cv, y, classifier=is_classifier(estimator)).split(X, y))
    n_splits = len(folds)
    searcher, n_candidates = _searcher(estimator, grids, method, sampled, n_iter, folds, scoring, random_state)
    client, own = _connect(scheduler, connect_timeout) if scheduler is not None else (None, False)
    start = time.perf_counter()
    try:
        if client is None:
            slots = joblib.effective_n_jobs(-1)
            where = f"local: {slots} processes"
            backend = joblib.parallel_config(backend="loky", n_jobs=-1)
        else:
            slots = _workers(client)
            where = f"{client.scheduler.address}: {len(client.nthreads())} workers, {slots} threads"
            data = [X, y, *(rows for fold in folds for rows in fold)]  # to every worker, once
            backend = joblib.parallel_config(backend="dask", client=client, scatter=data, n_jobs=-1)
        searcher._progress = _Progress(_fit_counts(searcher, n_candidates, n_splits), n_splits, slots, progress)
        with backend:
            searcher.fit(X, y)
    finally:
        if own:
            client.close()
    return _result(searcher, method, scoring, n_splits, time.perf_counter() - start, where)


# -- the parameters ---------------------------------------------------------------------------------
def check_params(estimator, params, method: str = "grid") -> list[dict]:
    """``params`` as a list of grids; ConfigError unless each name is the estimator's and each value accepted.

    Each value, and for "grid" and "halving" each combination, is set on a clone of the estimator whose
    settings are then checked and whose network is built, untrained (glassnet's estimators, also inside a
    ``Pipeline``); other estimators get their names checked. :func:`search` calls it first.
    """
    grids = [params] if isinstance(params, Mapping) else params
    if not isinstance(grids, (list, tuple)) or not grids:
        raise invalid_value("params", params, "a dict of parameter name -> list of values, or a list of such dicts")
    known = estimator.get_params(deep=True)
    for grid in grids:
        if not isinstance(grid, Mapping) or not grid:
            raise invalid_value("params", params, "a dict of parameter name -> list of values, or a list of such dicts")
        for name, values in grid.items():
            if name not in known:
                raise ConfigError(f"params: {type(estimator).__name__} has no parameter {name!r}; its parameters "
                                  f"are {', '.join(sorted(known))}")
            if hasattr(values, "rvs"):
                if method == "grid":
                    raise ConfigError(f"params: {name!r} is a distribution ({values!r}); method='grid' needs a "
                                      "list of values, method='random' or 'halving' can draw from it")
                continue
            if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)) \
                    or isinstance(values, np.ndarray) and values.ndim != 1:
                raise ConfigError(f"params: the values of {name!r} must be a list, e.g. {name}=[a, b]; "
                                  f"received {values!r}")
            if len(values) == 0:
                raise ConfigError(f"params: the list of values of {name!r} is empty; give at least one value")
            for value in values:  # each value alone first: the message names it
                _check_candidate(estimator, {name: value})
        if method == "halving" and _resource(estimator) in grid:
            raise ConfigError(f"params: method='halving' uses {_resource(estimator)!r} as its resource (the best "
                              "candidates get more epochs); it cannot be searched too. Remove it from the grid")
    if method != "random" and not any(hasattr(v, "rvs") for g in grids for v in g.values()):
        for candidate in ParameterGrid(grids):  # combinations: e.g. early_stopping with validation_fraction
            _check_candidate(estimator, candidate)
    return [dict(g) for g in grids]


def _check_candidate(estimator, candidate: dict) -> None:
    """Build the candidate's estimator(s) and their networks, untrained; ConfigError naming it if refused."""
    try:
        est = clone(estimator).set_params(**candidate)
        for part in [est, *est.get_params(deep=True).values()]:
            if isinstance(part, _GlassEstimator):
                settings = part._settings()
                part._network(settings, 1, "linear")  # activation and device are checked by the layers
    except GlassnetError as e:
        raise ConfigError(f"params: the candidate {_text(candidate)} is refused: {e}") from None
    except (ValueError, TypeError) as e:
        raise ConfigError(f"params: the candidate {_text(candidate)} is refused: {type(e).__name__}: {e}") from None


def _resource(estimator) -> str:
    """The name of the estimator's ``epochs`` parameter (``glassclassifier__epochs`` in a Pipeline)."""
    names = [k for k in estimator.get_params(deep=True) if k == "epochs" or k.endswith("__epochs")]
    if len(names) != 1:
        raise ConfigError(f"method='halving' uses the estimator's epochs as its resource; "
                          f"{type(estimator).__name__} has {'no' if not names else 'several'} such parameter(s)")
    return names[0]


# -- the search -------------------------------------------------------------------------------------
class _Reporting:
    """Evaluates the candidates in chunks, each one parallel call, and reports after each.

    ``_run_search`` is scikit-learn's hook for scheduling the evaluations; the chunks only change when
    results come back, never what is computed. A chunk's fits are a multiple of the parallel slots when
    possible, so a chunk's end wastes no slot when the fits take equally long.
    """

    _progress = None

    def __getstate__(self):  # scikit-learn sends the search object along with each fit: not its reporter
        state = super().__getstate__()
        state.pop("_progress", None)
        return state

    def _run_search(self, evaluate_candidates, *, callback_ctx=None):
        progress = self._progress

        def in_chunks(candidate_params, cv=None, more_results=None, **kwargs):
            # scikit-learn's callback contexts number a call's tasks from 0, so chunks go without them
            kwargs.pop("callback_ctx", None)
            candidates = list(candidate_params)
            size = progress.chunk(len(candidates)) if progress else len(candidates)
            results = None
            for i in range(0, len(candidates), size):
                more = {k: list(v)[i:i + size] for k, v in more_results.items()} if more_results else None
                results = evaluate_candidates(candidates[i:i + size], cv, more_results=more, **kwargs)
                if progress:
                    progress.update(results)
            return results

        # scikit-learn 1.9 passes a callback context (and its classes need it); earlier versions none
        super()._run_search(in_chunks, **({} if callback_ctx is None else {"callback_ctx": callback_ctx}))


class _Grid(_Reporting, GridSearchCV):
    pass


class _Random(_Reporting, RandomizedSearchCV):
    pass


class _HalvingGrid(_Reporting, HalvingGridSearchCV):
    pass


class _HalvingRandom(_Reporting, HalvingRandomSearchCV):
    pass


def _searcher(estimator, grids, method, sampled, n_iter, cv, scoring, random_state):
    """(the scikit-learn search object, the number of candidates it starts with)."""
    common = {"cv": cv, "scoring": scoring, "n_jobs": -1, "refit": True, "error_score": np.nan}
    if method == "grid":
        return _Grid(estimator, grids, **common), len(ParameterGrid(grids))
    if method == "random":
        n = len(ParameterSampler(grids, n_iter, random_state=random_state))
        return _Random(estimator, grids, n_iter=n_iter, random_state=random_state, **common), n
    resource = _resource(estimator)
    epochs = estimator.get_params()[resource]
    if not is_int(epochs) or epochs < 1:
        raise invalid_value(resource, epochs, "a positive integer (halving's largest number of epochs)")
    n = n_iter if sampled else len(ParameterGrid(grids))
    min_epochs, _ = _halving_schedule(n, int(epochs))
    halving = {"resource": resource, "max_resources": int(epochs), "min_resources": min_epochs,
               "factor": HALVING_FACTOR, "random_state": random_state, **common}
    if sampled:
        return _HalvingRandom(estimator, grids, n_candidates=n, **halving), n
    return _HalvingGrid(estimator, grids, **halving), n


def _halving_schedule(n_candidates: int, epochs: int) -> tuple[int, list[int]]:
    """(epochs of the first iteration, candidates per iteration) as scikit-learn's halving runs them.

    The first iteration's epochs are chosen so that the last iteration trains with all ``epochs``
    (scikit-learn's ``min_resources="exhaust"``); with too few epochs for that, fewer iterations run.
    """
    needed = _log_floor(n_candidates) + 1  # iterations to come down to one candidate
    min_epochs = max(1, epochs // HALVING_FACTOR ** (needed - 1))
    possible = _log_floor(epochs // min_epochs) + 1  # iterations before the epochs exceed ``epochs``
    counts, n = [], n_candidates
    for _ in range(min(needed, possible)):
        counts.append(n)
        n = math.ceil(n / HALVING_FACTOR)
    return min_epochs, counts


def _log_floor(n: int) -> int:
    """floor(log_FACTOR(n)) for n >= 1, in integers."""
    k = 0
    while HALVING_FACTOR ** (k + 1) <= n:
        k += 1
    return k


def _fit_counts(searcher, n_candidates: int, n_splits: int) -> int:
    if isinstance(searcher, (HalvingGridSearchCV, HalvingRandomSearchCV)):
        return sum(_halving_schedule(n_candidates, searcher.max_resources)[1]) * n_splits
    return n_candidates * n_splits


class _Progress:
    """One line on stderr per chunk of fits: done/total, the best mean score so far and its parameters."""

    def __init__(self, total: int, n_splits: int, slots: int, enabled: bool):
        self.total, self.n_splits, self.slots, self.enabled = total, n_splits, max(1, slots), enabled
        self.start = time.perf_counter()

    def chunk(self, n_candidates: int) -> int:
        """Candidates per parallel call: all of them when quiet; else about an eighth, rounded up to fill the slots."""
        if not self.enabled:
            return n_candidates
        for c in range(max(1, -(-n_candidates // 8)), n_candidates + 1):
            if c * self.n_splits % self.slots == 0:
                return c
        return n_candidates

    def update(self, results: dict) -> None:
        if not self.enabled:
            return
        scores = np.asarray(results["mean_test_score"], dtype=np.float64)
        done = len(scores) * self.n_splits
        if np.all(np.isnan(scores)):
            best = "no score yet (the fits failed)"
        else:
            i = int(np.nanargmax(scores))
            best = f"best mean_test_score {scores[i]:.4f} so far ({_text(results['params'][i])})"
        print(f"search: {done}/{self.total} fits, {best}, {time.perf_counter() - self.start:.1f} s",
              file=sys.stderr, flush=True)


# -- the cluster ------------------------------------------------------------------------------------
def _connect(scheduler, timeout: float):
    """(a connected distributed.Client, whether this search opened it and must close it)."""
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError("a scheduler needs dask.distributed: pip install 'glassnet[dask]'") from None
    if isinstance(scheduler, Client):
        return scheduler, False
    if not isinstance(scheduler, str) or not scheduler.strip():
        raise invalid_value("scheduler", scheduler, "a Dask scheduler's address such as 'tcp://host:8786', "
                            "a distributed.Client, or None (this machine)")
    from distributed.comm.addressing import parse_address, parse_host_port

    try:  # first: a Client given a malformed address lingers and complains when collected
        scheme, location = parse_address(scheduler)
        if scheme in ("tcp", "tls"):
            parse_host_port(location)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"scheduler={scheduler!r} is not a Dask scheduler address ({e}); expected e.g. "
                          "'tcp://host:8786'") from None
    # glassnet.dask.connect probes the scheduler under a hard deadline first: distributed's Client alone
    # waits forever on an address that accepts the connection but never replies
    from .dask import connect

    return connect(scheduler, timeout), True


def _workers(client, wait_s: float = 10.0) -> int:
    """The cluster's worker threads, after waiting up to ``wait_s`` for a first worker."""
    try:
        client.wait_for_workers(1, timeout=wait_s)
    except (TimeoutError, OSError):
        raise ConfigError(f"the Dask scheduler at {client.scheduler.address} has no workers (waited {wait_s:g} s); "
                          f"start some with `dask worker {client.scheduler.address}`") from None
    return sum(client.nthreads().values())


# -- the result -------------------------------------------------------------------------------------
def _result(searcher, method, scoring, n_splits, seconds, where) -> SearchResult:
    cv = searcher.cv_results_
    halving = "iter" in cv
    n = len(cv["params"])
    # best first; halving: the last iteration's candidates (trained longest) before earlier ones
    order = sorted(range(n), key=lambda i: ((-cv["iter"][i]) if halving else 0, cv["rank_test_score"][i], i))
    names = ["mean_test_score", "std_test_score", "rank_test_score", "mean_fit_time", "std_fit_time",
             "mean_score_time", *(["iter", "n_resources"] if halving else []),
             *(f"split{k}_test_score" for k in range(n_splits))]
    results = [{"params": dict(cv["params"][i]), **{k: cv[k][i].item() for k in names}} for i in order]
    return SearchResult(results=results, best_params=dict(searcher.best_params_),
                        best_score=float(searcher.best_score_), best_estimator=searcher.best_estimator_,
                        method=method, scoring=scoring if isinstance(scoring, str) else "score",
                        n_splits=n_splits, n_fits=n * n_splits, seconds=seconds, where=where, cv_results=cv)


def _text(params: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


def _cell(v):
    return v if v is None or isinstance(v, (bool, int, float, str, np.number)) else repr(v)


def _jsonable(x):
    return to_jsonable(x, nonfinite_as_none=True)  # a failed fit's score is NaN: JSON has no NaN
