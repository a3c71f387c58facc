"""`glassnet tsc` on UCR files: the report (text and --json), and every bad input as one line with status 2."""

import json
import os
import re
from pathlib import Path

import pytest

from glassnet.cli.main import main

UCR = Path(__file__).resolve().parents[1] / "data" / "ucr"
TRAIN, TEST = str(UCR / "tiny_TRAIN.ts"), str(UCR / "tiny_TEST.ts")
REPORT_KEYS = {"dataset", "arch", "epochs", "test_error", "test_error_final", "train_loss", "seconds"}


def cli(capsys, *argv):
    try:
        rc = main(list(argv))
    except SystemExit as e:  # argparse's own errors (an unknown --arch)
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("arch", ["mlp", "fcn", "resnet", "lstm"])
def test_json_report(capsys, arch):
    rc, out, err = cli(capsys, "tsc", "--train", TRAIN, "--test", TEST, "--arch", arch, "--epochs", "2", "--json")
    assert rc == 0, err
    report = json.loads(out)  # exactly one JSON object on stdout
    assert REPORT_KEYS <= set(report)
    assert report["dataset"] == "Tiny" and report["arch"] == arch and report["epochs"] == 2
    # classes in the order of the output units (sorted); int(min(3/10, 16)) -> batch size 1
    assert report["classes"] == ["down", "up"] and report["batch_size"] == 1
    assert 0 <= report["test_error"] <= 1 and report["test_error"] in (0.0, 0.5, 1.0)  # 2 test series
    assert len(report["history"]["loss"]) == 2 and report["seconds"] > 0
    assert "epoch" not in err  # no progress bar with --json


def test_text_report_and_progress_bar(capsys):
    rc, out, err = cli(capsys, "tsc", "--train", TRAIN, "--test", TEST, "--epochs", "3", "--seed", "1",
                       "--znorm", "series")
    assert rc == 0, err
    assert "dataset: Tiny: 3 training and 2 test series of length 4, 1 channel; 2 classes (up, down)" in out
    assert "z-normalised per series" in out
    assert "model: fcn, 264,962 parameters" in out  # as for GunPoint: the count does not depend on T
    assert "test error" in out and "(3 epochs," in out
    assert "3/3" in err  # the tqdm bar over epochs, on stderr


def test_lstm_text_report(capsys):
    rc, out, err = cli(capsys, "tsc", "--train", TRAIN, "--test", TEST, "--arch", "lstm", "--epochs", "2",
                       "--quiet")
    assert rc == 0, err
    # LSTM(64) on 1 channel: W 4·64 + U 64·4·64 + b 4·64, then Dense 64·2 + 2; Adam as for the FCN
    assert "model: lstm, 17,026 parameters; batch size 1; Adam" in out
    assert "(2 epochs," in out


def test_tsv_files_and_test_every(capsys):
    tsv = str(UCR / "tiny.tsv")
    rc, out, err = cli(capsys, "tsc", "--train", tsv, "--test", tsv, "--arch", "mlp", "--epochs", "3",
                       "--test-every", "0", "--json")
    assert rc == 0, err
    report = json.loads(out)
    assert report["dataset"] == "tiny" and report["classes"] == [1, 2]
    assert report["history"]["test_error"][-1] is not None  # the last epoch is always measured


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--train", "nope.ts", "--test", TEST], r"DataError: --train nope.ts: cannot read the file"),
        (["--train", str(UCR / "ragged.ts"), "--test", TEST], r"line 8 of .*ragged.ts: series has 3 values"),
        (["--train", TRAIN, "--test", str(UCR / "bad_number.ts")], r"line 7 of .*bad_number.ts: 'x3'"),
        (["--train", TRAIN, "--test", str(UCR / "tiny.tsv")], r"length 3 .* length 4"),
        (["--train", TRAIN, "--test", TEST, "--epochs", "0"], r"`--epochs`, expected a positive integer"),
        (["--train", TRAIN, "--test", TEST, "--seed", "-1"], r"`--seed`, expected a non-negative integer"),
        (["--train", TRAIN, "--test", TEST, "--arch", "gru"], r"invalid choice: 'gru'"),
    ],
)
def test_bad_input_is_one_line_and_status_2(capsys, argv, message):
    rc, out, err = cli(capsys, "tsc", *argv)
    assert rc == 2
    assert out == "" and len(err.strip().splitlines()) == 1, err
    assert re.search(message, err), err


def test_unseen_test_label_and_unlabelled_file(tmp_path, capsys):
    other = tmp_path / "other_TEST.ts"
    other.write_text("@classLabel true up down sideways\n@data\n1,2,3,4:sideways\n")
    rc, out, err = cli(capsys, "tsc", "--train", TRAIN, "--test", str(other), "--epochs", "1")
    assert rc == 2 and out.startswith("dataset: Tiny") and "label 'sideways'" in err and "never saw" in err
    plain = tmp_path / "plain.ts"
    plain.write_text("@classLabel false\n@data\n1,2,3,4\n")
    rc, out, err = cli(capsys, "tsc", "--train", str(plain), "--test", TEST, "--epochs", "1")
    assert rc == 2 and out == "" and "has no class labels" in err


def test_the_command_is_registered(capsys):
    rc, out, _ = cli(capsys, "--help")
    assert rc == 0 and "tsc" in out
    rc, out, _ = cli(capsys, "tsc", "--help")
    assert rc == 0 and "--arch {fcn,lstm,mlp,resnet}" in out


def test_device_option_gives_the_cpus_result_and_leaves_the_environment_alone(capsys, monkeypatch):
    import fakegpu

    fakegpu.install()
    monkeypatch.delenv("GLASSNET_DEVICE", raising=False)
    argv = ["tsc", "--train", TRAIN, "--test", TEST, "--arch", "mlp", "--epochs", "2", "--json"]
    reports = []
    for device in ([], ["--device", "fakegpu"]):
        rc, out, err = cli(capsys, *argv, *device)
        assert rc == 0, err
        reports.append(json.loads(out))
    cpu, dev = reports
    assert (cpu["device"], dev["device"]) == ("cpu", "fakegpu")
    assert "GLASSNET_DEVICE" not in os.environ  # passed to tsc.train as device=, the environment untouched
    for key in ("history", "test_error", "test_error_final", "train_loss"):
        assert dev[key] == cpu[key], key
    rc, out, err = cli(capsys, *argv, "--device", "tpu")
    assert rc == 2 and out == "" and "expected one of" in err and "Received: device='tpu'" in err
