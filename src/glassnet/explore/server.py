"""The explorer's web server: a Flask app over :class:`~glassnet.explore.sessions.SessionRegistry`.

:func:`create_app` builds the app (the page, its static files and the JSON API of docs/explore.md);
:class:`ExplorerServer` serves it from a thread in this process (werkzeug's threaded server), so that
``glassnet explore`` and the tests can start and stop it. Nothing here computes a number: every value in
a response comes from the session's model (``train_step``, ``evaluate``, ``predict``) or from
``gn.trace.record`` and its exporters.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

from flask import Flask, Response, jsonify, request, send_from_directory
from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler, make_server

from ..checks import check_bool
from ..errors import ConfigError, DivergenceError, ExportError, GlassnetError
from .datasets import MAX_CSV_BYTES
from .sessions import IDLE_TIMEOUT_S, LIMITS, Config, SessionRegistry

__all__ = ["ExplorerServer", "create_app"]

STATIC = Path(__file__).resolve().parent / "static"
#: a request body larger than this is refused with 413 (an upload's JSON-escaped text plus the settings)
MAX_REQUEST_BYTES = 2 * MAX_CSV_BYTES + 64_000


class _NotKept(LookupError):
    """A traced step the session no longer keeps."""


def _error(status: int, message: str, **extra) -> tuple[Response, int]:
    return jsonify({"error": message, **extra}), status


def _api(view):
    """Turn the session's errors into JSON: bad input 400, unknown session 404, untraceable 409, full 503."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except _NotKept as e:
            return _error(404, str(e))
        except KeyError:
            return _error(404, f"Unknown or expired session {kwargs.get('sid')!r}: sessions idle for "
                               "longer than the server's idle timeout are dropped; start a new one")
        except (ExportError, DivergenceError) as e:
            return _error(409, str(e))
        except GlassnetError as e:
            field = getattr(e, "field", None)
            return _error(400, str(e), **({"field": field} if field else {}))
        except RuntimeError as e:
            return _error(503, str(e))
    return wrapper


def _json_body() -> dict:
    data = request.get_json(silent=True, force=True)  # whatever the Content-Type says
    if data is None and request.get_data(cache=True):
        raise ConfigError("The request body is not valid JSON")
    return {} if data is None else data


def _download(data, mimetype: str, filename: str) -> Response:
    return Response(data, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def create_app(idle_timeout: float = IDLE_TIMEOUT_S, max_sessions: int = LIMITS["sessions"]) -> Flask:
    """The explorer as a Flask app: the page at ``/``, the JSON API under ``/api`` (see docs/explore.md).

    Parameters
    ----------
    idle_timeout : float, default 1800
        Seconds after which an unused session is dropped (checked at every request).
    max_sessions : int, default 32
        Sessions held at once; creating one more answers 503.
    """
    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.json.sort_keys = False
    registry = SessionRegistry(idle_timeout=idle_timeout, max_sessions=max_sessions)
    app.extensions["glassnet_sessions"] = registry

    @app.errorhandler(HTTPException)
    def http_error(e):  # 413, 405, unknown routes: JSON like every other answer of the API
        if e.code == 413:
            return _error(413, f"The request is larger than {MAX_REQUEST_BYTES:,} bytes; the explorer takes "
                               f"CSV files up to {MAX_CSV_BYTES:,} bytes")
        return _error(e.code, e.description)

    @app.get("/")
    def index():
        return send_from_directory(STATIC, "index.html")

    @app.post("/api/session")
    @_api
    def create():
        session = registry.create(Config.from_dict(_json_body()))
        return jsonify(session.info()), 201

    @app.get("/api/session/<sid>")
    @_api
    def info(sid):
        session = registry.get(sid)
        with session.lock:
            return jsonify(session.info())

    @app.delete("/api/session/<sid>")
    @_api
    def delete(sid):
        if not registry.delete(sid):
            raise KeyError(sid)
        return jsonify({"deleted": sid})

    @app.post("/api/session/<sid>/step")
    @_api
    def step(sid):
        session = registry.get(sid)
        body = _json_body()
        if not isinstance(body, dict):
            raise ConfigError("The step request must be a JSON object such as {\"steps\": 5}")
        trace = check_bool("trace", body.get("trace", False))
        with session.lock:
            try:
                out = session.step(body.get("steps", 1), trace=trace)
            except ExportError as e:  # a traced step on an untraceable network: train it, say why
                out = {**session.step(body.get("steps", 1)), "trace_error": str(e)}
            if trace and "trace_error" not in out:
                out["traced_step"] = session.traced[0]
            return jsonify(out)

    @app.get("/api/session/<sid>/history")
    @_api
    def history(sid):
        session = registry.get(sid)
        with session.lock:
            return jsonify(session.history)

    @app.get("/api/session/<sid>/boundary")
    @_api
    def boundary(sid):
        n = request.args.get("n", 40, type=int)
        if not 2 <= n <= LIMITS["grid"]:
            raise ConfigError(f"Received an invalid value for `n`, expected an integer in [2, {LIMITS['grid']}]. "
                              f"Received: n={n!r}")
        session = registry.get(sid)
        with session.lock:
            return jsonify(session.boundary(n))

    @app.get("/api/session/<sid>/weights")
    @_api
    def weights(sid):
        session = registry.get(sid)
        with session.lock:
            return jsonify(session.weights())

    @app.get("/api/session/<sid>/data")
    @_api
    def data(sid):
        session = registry.get(sid)
        with session.lock:
            return jsonify(session.data())

    def traced(session):
        """(step number, Trace, model bytes): ``?step=s`` the kept traced step, else the next one on a copy."""
        asked = request.args.get("step", type=int)
        if asked is None:
            return session.step_count + 1, session.next_trace(), session.model_bytes()
        if session.traced is None or session.traced[0] != asked:
            kept = "none" if session.traced is None else f"step {session.traced[0]}"
            raise _NotKept(f"Step {asked} was not traced (the session keeps its last traced step: {kept})")
        return session.traced

    @app.get("/api/session/<sid>/trace.json")
    @_api
    def trace_json(sid):
        session = registry.get(sid)
        with session.lock:
            s, trace, _ = traced(session)
        return _download(trace.to_json(), "application/json", f"explorer-step{s}-trace.json")

    @app.get("/api/session/<sid>/trace.html")
    @_api
    def trace_html(sid):
        session = registry.get(sid)
        with session.lock:
            _, trace, _ = traced(session)
        return Response(trace.to_html(), mimetype="text/html")

    @app.get("/api/session/<sid>/trace.xlsx")
    @_api
    def trace_xlsx(sid):
        session = registry.get(sid)
        with session.lock:
            s, trace, _ = traced(session)
        return _download(trace.to_xlsx(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                         f"explorer-step{s}-trace.xlsx")

    @app.get("/api/session/<sid>/model.glassnet")
    @_api
    def model_file(sid):
        session = registry.get(sid)
        with session.lock:
            if request.args.get("step") is None:
                s, data = session.step_count, session.model_bytes()
            else:
                s, _, data = traced(session)
                s -= 1  # the model the traced step started from
        return _download(data, "application/octet-stream", f"explorer-step{s}.glassnet")

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code="-", size="-"):  # one line per poll would drown the terminal
        pass


class ExplorerServer:
    """Serve :func:`create_app` from a background thread of this process.

    >>> server = ExplorerServer(port=0).start()   # doctest: +SKIP
    >>> server.url                                # doctest: +SKIP
    'http://127.0.0.1:50123/'
    >>> server.stop()                             # doctest: +SKIP

    Parameters
    ----------
    host : str, default "127.0.0.1"
        The address to bind; another one makes the explorer reachable from other machines.
    port : int, default 8765
        0 picks a free port.
    **app_kwargs
        Passed to :func:`create_app` (``idle_timeout``, ``max_sessions``).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8765, **app_kwargs):
        self.app = create_app(**app_kwargs)
        self._server = make_server(host, port, self.app, threaded=True, request_handler=_QuietHandler)
        self.host, self.port = host, self._server.server_port
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        """The page's address, e.g. ``http://127.0.0.1:8765/``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> ExplorerServer:
        """Serve in a daemon thread, and sweep idle sessions once a minute; returns the server."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="glassnet-explore", daemon=True)
        self._thread.start()
        registry = self.app.extensions["glassnet_sessions"]
        threading.Thread(target=self._sweep, args=(registry,), name="glassnet-explore-sweep", daemon=True).start()
        return self

    def _sweep(self, registry) -> None:
        while not self._stopped.wait(min(60.0, max(registry.idle_timeout, 0.05))):
            registry.sweep()

    def wait(self) -> None:
        """Block until :meth:`stop` is called (or Ctrl-C)."""
        self._stopped.wait()

    def stop(self) -> None:
        """Stop serving, close the socket and end the threads."""
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
