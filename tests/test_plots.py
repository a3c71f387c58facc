"""glassnet.plots: each picture is written (PNG magic bytes, SVG that parses) and shows what it should.

The plot functions return their (closed) matplotlib Figure, so what is drawn is checked on its artists:
nodes are a scatter's offsets, edges a LineCollection's segments and colours, histograms step patches,
matrices images. The loss curves and decision boundaries of the demo are also in tests/cli/test_cli_demo.py.
"""

import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_rgba

import glassnet as gn
from glassnet import plots
from glassnet.errors import ConfigError, DataError, ExportError, NotBuiltError, ShapeError

PNG = b"\x89PNG\r\n\x1a\n"


def is_png(path) -> bool:
    return path.read_bytes()[:8] == PNG


def mlp(sizes=(4, 3, 2), activation="tanh", seed=0):
    """A built Dense network: sizes[0] inputs, then one Dense layer per further size."""
    layers = [gn.layers.Dense(n, activation=activation) for n in sizes[1:]]
    return gn.Sequential(layers, seed=seed, dtype="float64").build(sizes[0])


def edges_and_nodes(fig):
    ax = fig.axes[0]
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    (nodes,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    return lines, nodes


def sign_colours(values):
    """The colour plot_network gives each value, as RGB (its edges are drawn with alpha 0.8)."""
    return np.array([to_rgba(plots.POSITIVE if v > 0 else plots.NEGATIVE)[:3] for v in values])


# -- formats -------------------------------------------------------------------------------------------
def test_the_extension_picks_the_format_and_an_unknown_one_is_an_error(tmp_path):
    model = mlp()
    plots.plot_network(model, tmp_path / "n.png")
    assert is_png(tmp_path / "n.png")
    plots.plot_network(model, tmp_path / "n.svg")
    root = ET.parse(tmp_path / "n.svg").getroot()
    assert root.tag.endswith("svg")
    with pytest.raises(ExportError, match=r"extension picks the format, one of \.png, \.svg, \.pdf; received '\.jpg'"):
        plots.plot_network(model, tmp_path / "n.jpg")
    with pytest.raises(ExportError, match="received 'no extension'"):
        plots.plot_confusion_matrix([0, 1], [0, 1], tmp_path / "cm")
    assert not (tmp_path / "n.jpg").exists()


def test_every_plot_says_how_to_install_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ExportError, match=r"pip install glassnet\[plot\]"):
        plots.plot_network(mlp(), tmp_path / "n.png")
    with pytest.raises(ExportError, match=r"pip install glassnet\[plot\]"):
        plots.plot_confusion_matrix([0, 1], [1, 1], tmp_path / "c.png")


# -- curves --------------------------------------------------------------------------------------------
def test_plot_loss_draws_training_and_validation_curves_per_panel(tmp_path):
    X, y = gn.data.xor()
    model = gn.Sequential([gn.layers.Dense(4, activation="tanh"), gn.layers.Dense(1, activation="sigmoid")],
                          seed=0)
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(X, y, epochs=4, verbose=0, validation_data=(X, y))
    fig = plots.plot_loss(history, tmp_path / "loss.svg", title="xor")
    ET.parse(tmp_path / "loss.svg")
    losses, metrics = fig.axes
    assert [line.get_label() for line in losses.lines] == ["loss", "val_loss"]
    assert [line.get_label() for line in metrics.lines] == ["accuracy", "val_accuracy"]
    assert losses.get_xlabel() == "epoch" and losses.get_ylabel() == "loss"
    np.testing.assert_array_equal(losses.lines[0].get_xdata(), [1, 2, 3, 4])  # epochs counted from 1
    np.testing.assert_allclose(losses.lines[1].get_ydata(), history.history["val_loss"])


def test_compare_optimizers_starts_every_run_from_the_same_weights(tmp_path):
    X, y = gn.data.blobs(40, 2, rng=1)
    y = y.reshape(-1, 1).astype(np.float64)
    built = []

    def make_model():  # seed None: each call draws other weights, which compare_optimizers replaces
        built.append(gn.Sequential([gn.layers.Dense(5, activation="tanh"), gn.layers.Dense(1)], dtype="float64"))
        return built[-1]

    still = 1e-12  # a learning rate must be positive; this one moves no weight visibly
    frozen = {"full batch": (gn.optimizers.SGD(learning_rate=still), None), "batch 1": (gn.optimizers.SGD(still), 1),
              "batch 8": ("sgd", 8)}
    histories = plots.compare_optimizers(make_model, X, y, optimizers=frozen, epochs=2, batch_size=8,
                                         path=tmp_path / "frozen.png")
    assert is_png(tmp_path / "frozen.png") and len(built) == 4  # one for the weights, one per run
    first = histories["full batch"].history["loss"]
    # learning rate ~0: every epoch's loss is that of the common initial weights, whatever the batch size
    np.testing.assert_allclose(histories["batch 1"].history["loss"], first, rtol=1e-8)
    assert histories["batch 8"].history["loss"][-1] < first[0]  # "sgd" (lr 0.01) does learn


def test_compare_optimizers_default_set_one_legend_entry_per_optimizer(tmp_path):
    X, y = gn.data.blobs(48, 3, rng=0)
    X = (X - X.mean(axis=0)) / X.std(axis=0)

    def make_model():
        return gn.Sequential([gn.layers.Dense(6, activation="relu"), gn.layers.Dense(3, activation="softmax")],
                             seed=3)

    histories = plots.compare_optimizers(make_model, X, y, loss="sparse_categorical_crossentropy", epochs=3,
                                         batch_size=16, path=tmp_path / "cmp.png")
    names = ["GD (full batch)", "SGD", "mini-batch", "momentum", "Nesterov", "RMSProp", "Adam"]
    assert list(histories) == names and is_png(tmp_path / "cmp.png")
    assert all(len(h.history["loss"]) == 3 for h in histories.values())
    fig = plots.plot_comparison(histories, tmp_path / "again.svg")
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == names
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"
    for line, name in zip(ax.lines, names):
        np.testing.assert_allclose(line.get_ydata(), histories[name].history["loss"])


def test_compare_optimizers_errors(tmp_path):
    X, y = gn.data.xor()
    shared = gn.optimizers.Adam()

    def make_model():
        return gn.Sequential([gn.layers.Dense(2, activation="tanh"), gn.layers.Dense(1)], seed=0)

    with pytest.raises(ConfigError, match="'a' and 'b' are the same optimizer object"):
        plots.compare_optimizers(make_model, X, y, optimizers={"a": shared, "b": shared}, epochs=1)
    widths = iter([2, 3])
    with pytest.raises(ShapeError, match="make_model must build the same network each time"):
        plots.compare_optimizers(lambda: gn.Sequential([gn.layers.Dense(next(widths)), gn.layers.Dense(1)]),
                                 X, y, optimizers={"a": "sgd"}, epochs=1)
    with pytest.raises(ExportError, match="received '.gif'"):  # before any training
        plots.compare_optimizers(make_model, X, y, path=tmp_path / "c.gif")
    history = gn.callbacks.History()
    history.history = {"loss": [1.0, 0.5]}
    with pytest.raises(DataError, match=r"run 'a' has no 'accuracy' values; it has \['loss'\]"):
        plots.plot_comparison({"a": history}, tmp_path / "c.png", key="accuracy")


# -- the network diagram -------------------------------------------------------------------------------
def test_plot_network_draws_every_neuron_and_weight_coloured_by_sign_sized_by_magnitude(tmp_path):
    model = mlp((4, 3, 2))
    fig = plots.plot_network(model, tmp_path / "net.png")
    assert is_png(tmp_path / "net.png")
    lines, nodes = edges_and_nodes(fig)
    assert len(nodes.get_offsets()) == 4 + 3 + 2
    W1, W2 = (layer.params["W"] for layer in model.layers)
    values = np.concatenate([W1.ravel(), W2.ravel()])  # layer by layer, W row-major: edge i -> j
    assert len(lines.get_segments()) == 4 * 3 + 3 * 2 == len(values)
    np.testing.assert_allclose(lines.get_colors()[:, :3], sign_colours(values))
    widths = np.asarray(lines.get_linewidths())
    assert widths[np.argmax(np.abs(values))] == pytest.approx(widths.max())
    np.testing.assert_allclose(np.argsort(widths, kind="stable"), np.argsort(np.abs(values), kind="stable"))
    # the edge of W1[2, 1] runs from input 2 (column 0) to unit 1 (column 1)
    (x0, _), (x1, _) = lines.get_segments()[2 * 3 + 1]
    assert (x0, x1) == (0, 1)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[0] == "inputs\n(4)" and labels[2] == "layer 2: dense\n(2, tanh)"
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["positive", "negative"]


def test_plot_network_caps_wide_layers(tmp_path):
    model = mlp((20, 30, 1))
    fig = plots.plot_network(model, tmp_path / "wide.png", max_units=10)
    lines, nodes = edges_and_nodes(fig)
    assert len(nodes.get_offsets()) == 10 + 10 + 1
    assert len(lines.get_segments()) == 10 * 10 + 10 * 1
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"+10 more", "+20 more"} <= texts
    W1 = model.layers[0].params["W"]
    np.testing.assert_allclose(lines.get_colors()[:100, :3], sign_colours(W1[:10, :10].ravel()))


def test_plot_network_of_a_traced_step_draws_its_gradients(tmp_path):
    model, X, y = gn.trace.preset("article")
    trace = gn.trace.record(model, X, y, steps=2)
    step2 = trace.steps[1]
    values = np.concatenate([step2["dW1"].value.ravel(), step2["dW2"].value.ravel()])
    assert (values > 0).any() and (values < 0).any()
    fig = plots.plot_network(model, tmp_path / "grad.png", trace=trace, step=2)
    lines, _ = edges_and_nodes(fig)
    np.testing.assert_allclose(lines.get_colors()[:, :3], sign_colours(values))
    assert "gradients dW (trace step 2)" in fig.axes[0].get_title()
    fig = plots.plot_network(model, tmp_path / "w.png", what="weights", trace=trace, step=2)
    lines, _ = edges_and_nodes(fig)
    before = np.concatenate([step2.params_before["W1"].ravel(), step2.params_before["W2"].ravel()])
    widths = np.asarray(lines.get_linewidths())
    np.testing.assert_allclose(widths[np.argmax(np.abs(before))], widths.max())

    with pytest.raises(ConfigError, match=r"the trace has no step 3; its steps are 1\.\.2"):
        plots.plot_network(model, tmp_path / "x.png", trace=trace, step=3)
    with pytest.raises(ShapeError, match="the trace does not fit the model"):
        plots.plot_network(mlp((4, 5, 1)), tmp_path / "x.png", trace=trace)


def test_plot_network_of_the_last_batchs_gradients(tmp_path):
    X, y = gn.data.xor()
    model = gn.Sequential([gn.layers.Dense(3, activation="tanh"), gn.layers.Dense(1, activation="sigmoid")],
                          seed=2, dtype="float64")
    model.compile(loss="binary_crossentropy", optimizer="sgd")
    model.fit(X, y, epochs=2, batch_size=None, verbose=0)
    fig = plots.plot_network(model, tmp_path / "g.png", what="gradients")
    lines, _ = edges_and_nodes(fig)
    values = np.concatenate([layer.grads["W"].ravel() for layer in model.layers])
    np.testing.assert_allclose(lines.get_colors()[:, :3], sign_colours(values))


def test_plot_network_bad_input(tmp_path):
    conv = gn.Sequential([gn.layers.Dense(4), gn.layers.Conv1D(2, 3)], seed=0)
    with pytest.raises(ExportError, match=r"input shape is \(10, 3\), not \(features,\)"):
        plots.plot_network(conv.build((10, 3)), tmp_path / "x.png")
    conv = gn.Sequential([gn.layers.Reshape((4, 1)), gn.layers.Conv1D(2, 3), gn.layers.Flatten(),
                          gn.layers.Dense(1)], seed=0).build(4)
    with pytest.raises(ExportError, match=r"layer 0 \(reshape, Reshape\) is not a Dense layer"):
        plots.plot_network(conv, tmp_path / "x.png")
    with pytest.raises(NotBuiltError, match="needs a built model"):
        plots.plot_network(gn.Sequential([gn.layers.Dense(1)]), tmp_path / "x.png")
    with pytest.raises(ConfigError, match="`what`"):
        plots.plot_network(mlp(), tmp_path / "x.png", what="biases")
    # activation and dropout layers keep the neurons: skipped, not refused
    model = gn.Sequential([gn.layers.Dense(3), gn.layers.ReLU(), gn.layers.Dropout(0.5), gn.layers.Dense(1)],
                          seed=0).build(2)
    lines, nodes = edges_and_nodes(plots.plot_network(model, tmp_path / "ok.png"))
    assert len(nodes.get_offsets()) == 2 + 3 + 1 and len(lines.get_segments()) == 2 * 3 + 3


# -- histograms ----------------------------------------------------------------------------------------
def relu_net(seed=0):
    return gn.Sequential([gn.layers.Dense(16, activation="relu"), gn.layers.Dense(8, activation="relu"),
                          gn.layers.Dense(1)], seed=seed, dtype="float64")


def test_histogram_recorder_keeps_weights_activations_gradients_every_n_epochs(tmp_path):
    X, y = gn.data.blobs(64, 2, rng=0)
    y = y.reshape(-1, 1).astype(np.float64)
    model = relu_net()
    model.compile(loss="mse", optimizer="sgd")
    probe = X[:10]
    recorder = plots.HistogramRecorder(every=3, probe=probe)
    model.fit(X, y, epochs=7, batch_size=16, verbose=0, callbacks=[recorder])
    assert [s["epoch"] for s in recorder.snapshots] == [1, 3, 6, 7]  # the first, every 3rd, the last
    last = recorder.snapshots[-1]
    assert list(last["weights"]) == ["1 dense", "2 dense", "3 dense"]
    for k, layer in enumerate(model.layers):
        name = f"{k + 1} dense"
        np.testing.assert_array_equal(last["weights"][name], layer.params["W"].ravel())
        np.testing.assert_array_equal(last["gradients"][name], layer.grads["W"].ravel())
    # activations on the probe: the first layer's ReLU output, recomputed here
    W, b = model.layers[0].params["W"], model.layers[0].params["b"]
    np.testing.assert_allclose(last["activations"]["1 dense"], np.maximum(probe @ W + b, 0).ravel())

    # without a probe, the last training batch; a fit starts the record afresh
    recorder = plots.HistogramRecorder(every=10, max_values=50)
    model.fit(X, y, epochs=2, batch_size=16, shuffle=False, verbose=0, callbacks=[recorder])
    assert [s["epoch"] for s in recorder.snapshots] == [1, 2]
    assert recorder.snapshots[0]["activations"]["1 dense"].size == 50  # 16 rows × 16 units, sampled
    assert recorder.snapshots[0]["activations"]["3 dense"].size == 16  # the last batch: 16 rows × 1 unit


def test_plot_histograms_draws_a_grid_of_layers_by_kinds(tmp_path):
    X, y = gn.data.blobs(64, 2, rng=0)
    y = y.reshape(-1, 1).astype(np.float64)
    model = relu_net(seed=1)
    model.compile(loss="mse", optimizer="adam")
    recorder = plots.HistogramRecorder(every=2, probe=X)
    model.fit(X, y, epochs=5, verbose=0, callbacks=[recorder])
    fig = plots.plot_histograms(recorder, tmp_path / "hist.png", bins=20)
    assert is_png(tmp_path / "hist.png")
    assert len(fig.axes) == 3 * 3
    assert [ax.get_title() for ax in fig.axes[:3]] == ["weights", "activations", "gradients"]
    assert [fig.axes[3 * r].get_ylabel() for r in range(3)] == [f"layer {k} dense\ncount" for k in (1, 2, 3)]
    for ax in fig.axes:
        assert len(ax.patches) == len(recorder.snapshots) == 4  # epochs 1, 2, 4, 5 overlaid
    # the share of dead units is written on each activation panel
    a = recorder.snapshots[-1]["activations"]["1 dense"]
    notes = [t.get_text() for t in fig.axes[1].texts]
    assert any(f"zeros {np.mean(a == 0):.0%}" in n for n in notes)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["epoch 1", "epoch 2", "epoch 4",
                                                                             "epoch 5"]
    # more snapshots than max_epochs: thinned evenly, first and last kept
    fig = plots.plot_histograms(recorder.snapshots, tmp_path / "two.svg", max_epochs=2)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["epoch 1", "epoch 5"]


def test_plot_histograms_bad_input(tmp_path):
    with pytest.raises(DataError, match="no snapshots to draw"):
        plots.plot_histograms(plots.HistogramRecorder(), tmp_path / "h.png")
    with pytest.raises(DataError, match="each snapshot must be a dict with keys 'epoch'"):
        plots.plot_histograms([{"epoch": 1}], tmp_path / "h.png")
    with pytest.raises(ConfigError, match="`every`"):
        plots.HistogramRecorder(every=0)
    model = relu_net()
    model.compile(loss="mse", optimizer="sgd")
    with pytest.raises(ShapeError, match=r"probe has shape \(3, 5\); the model takes \(None, 2\)"):
        model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=1, verbose=0,
                  callbacks=[plots.HistogramRecorder(probe=np.zeros((3, 5)))])


# -- classifiers ---------------------------------------------------------------------------------------
def test_confusion_matrix_counts_equal_sklearns(tmp_path):
    from sklearn.metrics import confusion_matrix as sk_confusion_matrix

    rng = np.random.default_rng(0)
    classes = np.array(["cat", "dog", "fox", "owl"])
    y_true = classes[rng.integers(0, 4, 200)]
    y_pred = np.where(rng.random(200) < 0.6, y_true, classes[rng.integers(0, 4, 200)])
    expected = sk_confusion_matrix(y_true, y_pred)
    fig = plots.plot_confusion_matrix(y_true, y_pred, tmp_path / "cm.png")
    assert is_png(tmp_path / "cm.png")
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), expected)
    cells = np.array([int(t.get_text()) for t in ax.texts]).reshape(4, 4)  # written row by row
    np.testing.assert_array_equal(cells, expected)
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    assert [t.get_text() for t in ax.get_xticklabels()] == list(classes)

    order = ["owl", "fox", "dog", "cat"]
    matrix, labels = plots.confusion_matrix(y_true, y_pred, labels=order, normalize=True)
    np.testing.assert_allclose(matrix, sk_confusion_matrix(y_true, y_pred, labels=order, normalize="true"))
    assert labels.tolist() == order
    for how in ("pred", "all"):
        np.testing.assert_allclose(plots.confusion_matrix(y_true, y_pred, normalize=how)[0],
                                   sk_confusion_matrix(y_true, y_pred, normalize=how))
    fig = plots.plot_confusion_matrix(y_true, y_pred, tmp_path / "n.svg", normalize=True)
    assert float(fig.axes[0].texts[0].get_text()) == pytest.approx(expected[0, 0] / expected[0].sum(), abs=0.005)


def test_confusion_matrix_bad_input(tmp_path):
    with pytest.raises(ShapeError, match="y_true and y_pred have different lengths: 3 and 2"):
        plots.plot_confusion_matrix([0, 1, 1], [0, 1], tmp_path / "c.png")
    with pytest.raises(DataError, match=r"y_pred holds label\(s\) \[2\] that are not in labels=\[0, 1\]"):
        plots.plot_confusion_matrix([0, 1, 1], [0, 1, 2], tmp_path / "c.png", labels=[0, 1])
    with pytest.raises(ConfigError, match="`normalize`"):
        plots.confusion_matrix([0, 1], [0, 1], normalize="rows")


def test_plot_decision_boundary_legend_has_one_entry_per_class(tmp_path):
    X, codes = gn.data.blobs(30, 3, rng=0)
    model = gn.Sequential([gn.layers.Dense(3, activation="softmax")], seed=0).build(2)
    fig = plots.plot_decision_boundary(model, X, np.array(["a", "b", "c"])[codes], tmp_path / "b.svg",
                                       resolution=20)
    ET.parse(tmp_path / "b.svg")
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a", "b", "c"]


# -- convolutions --------------------------------------------------------------------------------------
def conv2d_model():
    return gn.Sequential([gn.layers.Conv2D(5, 3, activation="relu", name="c1"), gn.layers.Flatten(),
                          gn.layers.Dense(2)], seed=0, dtype="float64").build((7, 6, 2))


def test_plot_feature_maps_draws_each_channel_of_one_sample(tmp_path):
    model = conv2d_model()
    x = np.random.default_rng(0).normal(size=(7, 6, 2))
    fig = plots.plot_feature_maps(model, x, "c1", tmp_path / "maps.png")
    assert is_png(tmp_path / "maps.png")
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 5
    out = model.layers[0].forward(x[None], training=False)[0]  # (5, 4, 5)
    for c, ax in enumerate(shown):
        np.testing.assert_allclose(ax.images[0].get_array(), out[..., c])
        assert ax.get_title() == f"channel {c}"
    fig = plots.plot_feature_maps(model, x[None], 0, tmp_path / "three.png", max_channels=3)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 3 and "first 3 of 5 channels" in fig._suptitle.get_text()

    seq = gn.Sequential([gn.layers.Conv1D(4, 5, activation="tanh"), gn.layers.MaxPool1D(2)], seed=0).build((30, 1))
    x = np.sin(np.linspace(0, 6, 30))[:, None]
    fig = plots.plot_feature_maps(seq, x, -1, tmp_path / "seq.svg")
    ET.parse(tmp_path / "seq.svg")
    out = seq.predict(x[None])[0]  # (13, 4)
    for c, ax in enumerate(fig.axes[:4]):
        np.testing.assert_allclose(ax.lines[0].get_ydata(), out[:, c], rtol=1e-6)


def test_plot_filters_draws_each_kernel_on_a_scale_centred_on_zero(tmp_path):
    model = conv2d_model()
    fig = plots.plot_filters(model.layers[0], tmp_path / "filters.png")
    assert is_png(tmp_path / "filters.png")
    W = model.layers[0].params["W"]  # (3, 3, 2, 5)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 5
    image = shown[4].images[0]
    np.testing.assert_array_equal(image.get_array()[:, :3], W[:, :, 0, 4])  # input channel 0, then a gap
    np.testing.assert_array_equal(image.get_array()[:, 4:], W[:, :, 1, 4])
    lo, hi = image.get_clim()
    assert lo == -hi == -np.abs(W).max()
    conv1 = gn.Sequential([gn.layers.Conv1D(3, 4)], seed=0).build((10, 2))
    fig = plots.plot_filters(conv1.layers[0], tmp_path / "f1.png")
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), conv1.layers[0].params["W"][:, :, 1].T)


def test_conv_plots_bad_input(tmp_path):
    model = conv2d_model()
    x = np.zeros((7, 6, 2))
    with pytest.raises(ConfigError, match=r"the model has 3 layers \(indices 0\.\.2\); received layer=3"):
        plots.plot_feature_maps(model, x, 3, tmp_path / "m.png")
    with pytest.raises(ConfigError, match="no layer named 'conv'; its layers are"):
        plots.plot_feature_maps(model, x, "conv", tmp_path / "m.png")
    with pytest.raises(ExportError, match=r"layer 2 \(dense\) outputs \(2,\)"):
        plots.plot_feature_maps(model, x, 2, tmp_path / "m.png")
    with pytest.raises(ShapeError, match=r"one sample of shape \(7, 6, 2\).*received x of shape \(2, 7, 6, 2\)"):
        plots.plot_feature_maps(model, np.zeros((2, 7, 6, 2)), 0, tmp_path / "m.png")
    with pytest.raises(ExportError, match="Conv1D or Conv2D layer; received Dense"):
        plots.plot_filters(model.layers[2], tmp_path / "f.png")
