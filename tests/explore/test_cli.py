"""``glassnet explore``: it serves on 127.0.0.1 by default, warns for another host, and opens no browser when told."""

import json
import urllib.request

import pytest

from glassnet.cli import explore as cli_explore
from glassnet.cli.main import main
from glassnet.explore import ExplorerServer


@pytest.fixture
def served(monkeypatch):
    """Run the command with wait() answering at once; record the servers and any browser opened."""
    seen = {"servers": [], "opened": []}

    def wait(self):
        seen["servers"].append(self)
        with urllib.request.urlopen(f"{self.url}api/session", data=b"{}") as r:  # it really serves
            seen["session"] = json.loads(r.read())

    monkeypatch.setattr(ExplorerServer, "wait", wait)
    monkeypatch.setattr(cli_explore.webbrowser, "open", lambda url: seen["opened"].append(url))
    return seen


def test_serves_on_localhost_without_a_browser(served, capsys):
    assert main(["explore", "--port", "0", "--no-browser"]) == 0
    server = served["servers"][0]
    assert server.host == "127.0.0.1" and served["opened"] == [] and served["session"]["step"] == 0
    out, err = capsys.readouterr()
    assert f"glassnet explorer at {server.url}" in out and err == ""


def test_opens_the_browser_unless_told_not_to(served):
    assert main(["explore", "--port", "0"]) == 0
    assert served["opened"] == [served["servers"][0].url]


def test_another_host_prints_a_warning(monkeypatch, capsys):
    bound = []

    class Fake:  # binds nothing: tests serve on 127.0.0.1 only
        def __init__(self, host, port):
            bound.append(host)
            self.url = f"http://{host}:{port}/"

        start = wait = stop = lambda self: self

    monkeypatch.setattr("glassnet.explore.ExplorerServer", Fake)
    assert main(["explore", "--port", "0", "--host", "0.0.0.0", "--no-browser"]) == 0
    assert bound == ["0.0.0.0"]
    assert "warning: serving on 0.0.0.0, not 127.0.0.1" in capsys.readouterr().err


def test_bad_port_is_one_line(capsys):
    assert main(["explore", "--port", "-1", "--no-browser"]) == 2
    assert "--port" in capsys.readouterr().err
