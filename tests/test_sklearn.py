"""glassnet.sklearn: GlassClassifier and GlassRegressor follow scikit-learn's estimator contract.

scikit-learn's own estimator checks run on both (small networks, few epochs); the rest checks what those
checks do not: learning on real data against MLPClassifier/MLPRegressor, model selection, pickling of a
network whose parameters are views onto one buffer, warm starts, and bad input named as such.
"""

import copy
import pickle
import subprocess
import sys

import fakegpu
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes, load_iris
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from glassnet.errors import ConfigError, DataError, ShapeError
from glassnet.sklearn import GlassClassifier, GlassRegressor

fakegpu.install()

SMALL = {"hidden_layer_sizes": (16,), "learning_rate": 0.01, "epochs": 10}

#: estimator checks that cannot pass, and why (keep this short)
EXPECTED_FAILED_CHECKS = {
    "check_dtype_object": "glassnet reports a non-number in X (here a dict) as DataError, a ValueError that "
    "names the row and column, where the check wants NumPy's TypeError 'argument must be a string or a number'",
}


#: settings for one check, as scikit-learn's own PER_ESTIMATOR_CHECK_PARAMS give MLPClassifier solver="lbfgs"
PER_CHECK_PARAMS = {
    # weights against repeated rows: both fits are full batch here (15 rows, at most 32 repeated), so they agree
    # to rounding; float32's rounding (3e-7) is above the check's rtol=1e-7, float64's is not
    "check_sample_weight_equivalence_on_dense_data": {"dtype": "float64"},
}


@parametrize_with_checks([GlassClassifier(**SMALL), GlassRegressor(**SMALL)],
                         expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS, xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check):
    estimator.set_params(**PER_CHECK_PARAMS.get(getattr(check, "func", check).__name__, {}))
    check(estimator)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


def test_iris_accuracy(iris):
    X_train, X_test, y_train, y_test = iris
    clf = make_pipeline(StandardScaler(), GlassClassifier(hidden_layer_sizes=(16,), learning_rate=0.01, epochs=100,
                                                          random_state=0))
    clf.fit(X_train, y_train)
    accuracy = clf.score(X_test, y_test)
    assert accuracy >= 0.9, accuracy
    net = clf[-1]
    assert net.classes_.tolist() == [0, 1, 2] and net.n_features_in_ == 4 and net.n_iter_ == 100
    assert len(net.loss_curve_) == 100 and net.loss_curve_[-1] < net.loss_curve_[0] / 3
    assert net.history_["loss"] == net.loss_curve_
    assert net.model_.layers[-1].activation.key == "softmax"


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_diabetes_r2_is_level_with_mlp_regressor():
    X, y = load_diabetes(return_X_y=True)
    cv = KFold(5, shuffle=True, random_state=0)

    def r2(net):  # standardized features and target, as a network wants them
        model = TransformedTargetRegressor(make_pipeline(StandardScaler(), net), transformer=StandardScaler())
        return cross_val_score(model, X, y, cv=cv).mean()

    ours = r2(GlassRegressor(hidden_layer_sizes=(32,), epochs=50, random_state=0))
    theirs = r2(MLPRegressor(hidden_layer_sizes=(32,), max_iter=50, batch_size=32, random_state=0))
    print(f"diabetes, 5-fold R²: glassnet {ours:.3f}, MLPRegressor {theirs:.3f}")
    assert ours > 0.4 and ours > theirs - 0.05, (ours, theirs)


def test_grid_search_over_layers_and_learning_rate(iris):
    X_train, X_test, y_train, y_test = iris
    grid = {"glassclassifier__hidden_layer_sizes": [(4,), (16,)], "glassclassifier__learning_rate": [1e-3, 1e-2]}
    pipe = make_pipeline(StandardScaler(), GlassClassifier(epochs=30, random_state=0))
    search = GridSearchCV(pipe, grid, cv=3).fit(X_train, y_train)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_params_["glassclassifier__learning_rate"] == 1e-2  # 30 epochs at 1e-3 is too few
    assert search.best_score_ > 0.85 and search.score(X_test, y_test) > 0.85


def test_clone_and_pickle_give_the_same_predictions(iris):
    X_train, X_test, y_train, _ = iris
    clf = GlassClassifier(**SMALL, random_state=3).fit(X_train, y_train)
    proba = clf.predict_proba(X_test)

    twin = clone(clf)
    assert not hasattr(twin, "model_") and twin.get_params() == clf.get_params()
    np.testing.assert_array_equal(twin.fit(X_train, y_train).predict_proba(X_test), proba)

    for copied in (pickle.loads(pickle.dumps(clf)), copy.deepcopy(clf)):
        np.testing.assert_array_equal(copied.predict_proba(X_test), proba)
        assert copied.classes_.tolist() == clf.classes_.tolist() and copied.loss_curve_ == clf.loss_curve_
    # a copy trains on exactly like the original (its parameters are views onto the flat buffer again)
    copied = pickle.loads(pickle.dumps(clf))
    clf.partial_fit(X_train, y_train)
    copied.partial_fit(X_train, y_train)
    assert not np.array_equal(clf.predict_proba(X_test), proba)
    np.testing.assert_array_equal(copied.predict_proba(X_test), clf.predict_proba(X_test))


def test_models_pickle_with_their_device(iris):
    X_train, X_test, y_train, _ = iris
    on_cpu = GlassClassifier(**SMALL, random_state=0, device="cpu").fit(X_train, y_train)
    on_dev = GlassClassifier(**SMALL, random_state=0, device="fakegpu").fit(X_train, y_train)
    assert on_dev.model_.device == "fakegpu"
    np.testing.assert_array_equal(on_dev.predict_proba(X_test), on_cpu.predict_proba(X_test))
    twin = pickle.loads(pickle.dumps(on_dev))
    assert twin.model_.device == "fakegpu" and type(twin.model_.flat_params) is fakegpu.DeviceArray
    twin.partial_fit(X_train, y_train)
    on_cpu.partial_fit(X_train, y_train)
    np.testing.assert_array_equal(twin.predict_proba(X_test), on_cpu.predict_proba(X_test))


def test_string_labels(iris):
    X_train, X_test, y_train, y_test = iris
    names = np.array(["setosa", "versicolor", "virginica"])
    clf = GlassClassifier(hidden_layer_sizes=(16,), learning_rate=0.01, epochs=50, random_state=0)
    clf.fit(X_train, names[y_train].tolist())  # a plain list of str
    assert clf.classes_.tolist() == names.tolist()
    predicted = clf.predict(X_test)
    assert predicted.dtype.kind == "U" and set(predicted) <= set(names)
    assert np.mean(predicted == names[y_test]) > 0.85


def test_binary_predict_proba():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.where(X[:, 0] - X[:, 1] > 0, "yes", "no")
    clf = GlassClassifier(**SMALL, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    assert clf.classes_.tolist() == ["no", "yes"] and proba.shape == (60, 2) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    # one sigmoid unit gives P(classes_[1]); predict is the likelier class
    assert clf.model_.layers[-1].units == 1 and clf.model_.loss.key == "binary_crossentropy"
    np.testing.assert_array_equal(proba[:, 1], clf.model_.predict(X)[:, 0].astype(np.float64))
    np.testing.assert_array_equal(clf.predict(X), np.where(proba[:, 1] > 0.5, "yes", "no"))
    assert clf.score(X, y) > 0.9


def test_random_state_makes_runs_reproducible(iris):
    X_train, X_test, y_train, _ = iris

    def run(random_state, **kw):
        clf = GlassClassifier(**SMALL, dropout=0.2, early_stopping=True, random_state=random_state, **kw)
        return clf.fit(X_train, y_train)

    a, b, c = run(7), run(7), run(8)
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))
    assert a.loss_curve_ == b.loss_curve_ and a.history_ == b.history_
    assert not np.array_equal(a.predict_proba(X_test), c.predict_proba(X_test))
    # a RandomState is consumed, as in scikit-learn: equal states give equal models
    d, e = run(np.random.RandomState(0)), run(np.random.RandomState(0))
    np.testing.assert_array_equal(d.predict_proba(X_test), e.predict_proba(X_test))


def test_regressor_output_shapes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4))
    Y = np.column_stack([X @ [1.0, -2.0, 0.5, 0.0], X[:, 0] * X[:, 1]])
    reg = GlassRegressor(**SMALL, random_state=0)
    pred = reg.fit(X, Y[:, 0]).predict(X)
    assert pred.shape == (50,) and pred.dtype == np.float64 and reg.n_outputs_ == 1
    assert reg.fit(X, Y[:, :1]).predict(X).shape == (50, 1)
    assert reg.fit(X, Y).predict(X).shape == (50, 2) and reg.n_outputs_ == 2
    assert reg.model_.loss.key == "mse" and reg.model_.layers[-1].activation.key == "linear"


def test_warm_start_partial_fit_and_early_stopping(iris):
    X_train, _, y_train, _ = iris
    clf = GlassClassifier(**SMALL, warm_start=True, random_state=0).fit(X_train, y_train)
    model = clf.model_
    clf.fit(X_train, y_train)
    # n_iter_ counts the last fit's epochs, loss_curve_ every epoch since the network was built (MLPClassifier)
    assert clf.model_ is model and clf.n_iter_ == 10 and len(clf.loss_curve_) == 20
    clf.set_params(hidden_layer_sizes=(8,))
    with pytest.raises(ConfigError, match=r"built with hidden_layer_sizes=\(16,\); received hidden_layer_sizes=\(8,\)"):
        clf.fit(X_train, y_train)
    clf.set_params(warm_start=False).fit(X_train, y_train)  # a new network of the new size
    assert clf.model_.layers[0].units == 8 and clf.n_iter_ == 10

    inc = GlassClassifier(**SMALL, random_state=0)
    for _ in range(3):
        inc.partial_fit(X_train[:50], y_train[:50], classes=[0, 1, 2])
    assert inc.n_iter_ == 1 and len(inc.loss_curve_) == 3 and inc.classes_.tolist() == [0, 1, 2]

    stopped = GlassClassifier(**dict(SMALL, epochs=1000), early_stopping=True, patience=3, random_state=0)
    stopped.fit(X_train, y_train)
    assert stopped.n_iter_ < 1000 and len(stopped.history_["val_loss"]) == stopped.n_iter_


def test_bad_input_is_named():
    X, y = np.random.default_rng(0).normal(size=(20, 3)), np.arange(20) % 2
    clf = GlassClassifier(**SMALL)
    with pytest.raises(NotFittedError):
        clf.predict(X)
    with pytest.raises(ConfigError, match=r"`hidden_layer_sizes`, expected a tuple of positive integers.*"
                                          r"Received: hidden_layer_sizes=\(16, 0\)"):
        GlassClassifier(hidden_layer_sizes=(16, 0)).fit(X, y)
    with pytest.raises(ConfigError, match=r"`optimizer`, expected one of .*adam.*Received: optimizer='adamm'"):
        GlassClassifier(optimizer="adamm").fit(X, y)
    with pytest.raises(ConfigError, match=r"Received: learning_rate=0"):
        GlassRegressor(learning_rate=0).fit(X, y)
    X_nan = X.copy()
    X_nan[4, 2] = np.nan
    with pytest.raises(DataError, match="X contains NaN at row 4, column 2"):
        clf.fit(X_nan, y)
    with pytest.raises(DataError, match="Unknown label type: continuous. y holds 0.5 at row 3"):
        clf.fit(X, np.where(np.arange(20) == 3, 0.5, y))
    with pytest.raises(DataError, match=r"y holds one class only \('a'\)"):
        clf.fit(X, ["a"] * 20)
    with pytest.raises(ShapeError, match="X and y have different numbers of rows: X has 20, y has 19"):
        clf.fit(X, y[:19])
    clf.fit(X, y)
    with pytest.raises(ShapeError, match="X has 2 features, but GlassClassifier is expecting 3 features"):
        clf.predict(X[:, :2])
    with pytest.raises(DataError, match="y has label 5 at row 0 that the model never saw"):
        clf.partial_fit(X[:2], [5, 1])
    with pytest.raises(ConfigError, match="classes must be passed on the first call to partial_fit"):
        GlassClassifier().partial_fit(X, y)
    with pytest.raises(ConfigError, match="validation_fraction=0.9 of 5 samples leaves none for training"):
        GlassClassifier(early_stopping=True, validation_fraction=0.9).fit(X[:5], y[:5])


def test_import_glassnet_does_not_import_sklearn():
    code = "import sys, glassnet; assert 'sklearn' not in sys.modules, 'sklearn imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- sample and class weights ------------------------------------------------------------------------------------

#: full batch in float64: a weighted fit and a fit on the repeated rows take the same steps
EXACT = {"hidden_layer_sizes": (8,), "learning_rate": 0.01, "epochs": 15, "batch_size": None, "dtype": "float64"}


@pytest.mark.parametrize("Estimator, labels", [(GlassClassifier, 2), (GlassClassifier, 3), (GlassRegressor, 0)])
def test_weights_train_like_repeated_rows(Estimator, labels):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 4))
    y = rng.integers(0, labels, 30) if labels else X @ rng.normal(size=4)
    w = rng.integers(0, 4, 30)
    y[np.flatnonzero(w > 0)[:labels]] = np.arange(labels)  # every class keeps a positive weight
    repeat = np.repeat(np.arange(30), w)
    weighted = Estimator(**EXACT, random_state=0).fit(X, y, sample_weight=w)
    repeated = Estimator(**EXACT, random_state=0).fit(X[repeat], y[repeat])
    out = "predict_proba" if labels else "predict"
    np.testing.assert_allclose(getattr(weighted, out)(X), getattr(repeated, out)(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-12)


def test_class_weight_dict_and_balanced(iris):
    X_train, X_test, y_train, _ = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y_train]
    keep = np.r_[np.flatnonzero(names != "virginica"), np.flatnonzero(names == "virginica")[:10]]  # imbalanced
    X_imb, y_imb = X_train[keep], names[keep]
    settings = dict(SMALL, random_state=0, batch_size=16)
    # a dict of labels is the per-row sample_weight of each row's class; absent labels weigh 1
    by_dict = GlassClassifier(**settings, class_weight={"virginica": 4.0}).fit(X_imb, y_imb)
    by_rows = GlassClassifier(**settings).fit(X_imb, y_imb, sample_weight=np.where(y_imb == "virginica", 4.0, 1.0))
    np.testing.assert_array_equal(by_dict.predict_proba(X_test), by_rows.predict_proba(X_test))
    # "balanced" is scikit-learn's n_samples / (n_classes * bincount(y)), as compute_sample_weight gives it
    from sklearn.utils.class_weight import compute_sample_weight

    balanced = GlassClassifier(**settings, class_weight="balanced").fit(X_imb, y_imb)
    by_rows = GlassClassifier(**settings).fit(X_imb, y_imb, sample_weight=compute_sample_weight("balanced", y_imb))
    np.testing.assert_allclose(balanced.predict_proba(X_test), by_rows.predict_proba(X_test), rtol=1e-6)
    # with sample_weight, and multiplying it
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y_imb))
    both = GlassClassifier(**settings, class_weight={"setosa": 0.5}).fit(X_imb, y_imb, sample_weight=w)
    product = GlassClassifier(**settings).fit(X_imb, y_imb, sample_weight=w * np.where(y_imb == "setosa", 0.5, 1.0))
    np.testing.assert_array_equal(both.predict_proba(X_test), product.predict_proba(X_test))


def test_bad_weights_are_named():
    X, y = np.random.default_rng(0).normal(size=(20, 3)), np.arange(20) % 2
    with pytest.raises(ShapeError, match=r"sample_weight has 19 values for 20 rows"):
        GlassClassifier(**SMALL).fit(X, y, sample_weight=np.ones(19))
    with pytest.raises(DataError, match=r"sample_weight has the negative weight -1.0 at row 0"):
        GlassRegressor(**SMALL).fit(X, y, sample_weight=np.r_[-1.0, np.ones(19)])
    with pytest.raises(DataError, match=r"The weights leave one class only \(1\) with a positive"):
        GlassClassifier(**SMALL).fit(X, y, sample_weight=y)
    with pytest.raises(ConfigError, match=r"class_weight has the key 7, which is not one of the classes \[0, 1\]"):
        GlassClassifier(**SMALL, class_weight={7: 2.0}).fit(X, y)
    with pytest.raises(ConfigError, match=r"`class_weight`, expected None, 'balanced' or a dict"):
        GlassClassifier(**SMALL, class_weight="balance").fit(X, y)
    with pytest.raises(ConfigError, match=r"`class_weight\[0\]`, expected a finite number ≥ 0"):
        GlassClassifier(**SMALL, class_weight={0: -1}).fit(X, y)
    with pytest.raises(ConfigError, match=r"class_weight='balanced' is not supported by partial_fit"):
        GlassClassifier(**SMALL, class_weight="balanced").partial_fit(X, y, classes=[0, 1])


def test_partial_fit_and_early_stopping_take_weights(iris):
    X_train, X_test, y_train, _ = iris
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y_train))
    a = GlassClassifier(**SMALL, random_state=0).partial_fit(X_train, y_train, classes=[0, 1, 2], sample_weight=w)
    b = GlassClassifier(**SMALL, random_state=0).partial_fit(X_train, y_train, classes=[0, 1, 2])
    assert not np.array_equal(a.predict_proba(X_test), b.predict_proba(X_test))
    GlassRegressor(**SMALL, random_state=0).partial_fit(X_train, y_train.astype(float), sample_weight=w)
    stopped = GlassClassifier(**SMALL, early_stopping=True, random_state=0).fit(X_train, y_train, sample_weight=w)
    unweighted = GlassClassifier(**SMALL, early_stopping=True, random_state=0).fit(X_train, y_train)
    assert len(stopped.history_["val_loss"]) == stopped.n_iter_
    assert stopped.history_["val_loss"] != unweighted.history_["val_loss"]


def test_n_iter_and_loss_curve_count_as_mlp_classifier_counts_them(iris):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X_train, _, y_train, _ = iris
    ours = GlassClassifier(**dict(SMALL, epochs=5), warm_start=True, random_state=0)
    theirs = MLPClassifier(hidden_layer_sizes=(16,), max_iter=5, n_iter_no_change=100, warm_start=True,
                           random_state=0)
    for _ in range(2):
        ours.fit(X_train, y_train)
        with pytest.warns(ConvergenceWarning):
            theirs.fit(X_train, y_train)
        assert ours.n_iter_ == theirs.n_iter_ == 5  # the last fit's epochs
        assert len(ours.loss_curve_) == len(theirs.loss_curve_)  # every epoch since the network was built
    ours, theirs = GlassClassifier(**SMALL, random_state=0), MLPClassifier(hidden_layer_sizes=(16,), random_state=0)
    for _ in range(3):
        ours.partial_fit(X_train, y_train, classes=[0, 1, 2])
        theirs.partial_fit(X_train, y_train, classes=[0, 1, 2])
    assert ours.n_iter_ == theirs.n_iter_ == 1 and len(ours.loss_curve_) == len(theirs.loss_curve_) == 3


@pytest.mark.parametrize("labels", [2, 3])
def test_predict_log_proba_is_the_log_of_predict_proba(iris, labels):
    X_train, X_test, y_train, _ = iris
    keep = y_train < labels
    clf = GlassClassifier(**SMALL, random_state=0).fit(X_train[keep], y_train[keep])
    np.testing.assert_array_equal(clf.predict_log_proba(X_test), np.log(clf.predict_proba(X_test)))
    with pytest.raises(NotFittedError):
        GlassClassifier().predict_log_proba(X_test)
