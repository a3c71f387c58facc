"""``glassnet explore``: serve the browser explorer on 127.0.0.1 and open it.

The page trains a network chosen on it with the engine itself (see ``glassnet.explore`` and
docs/explore.md). It binds 127.0.0.1 unless ``--host`` names another address, which prints a warning:
whoever reaches the port can train models on this machine. Ctrl-C stops the server.
"""

from __future__ import annotations

import sys
import webbrowser

from ..checks import check_non_negative_int
from ..errors import ConfigError

__all__ = ["LOCAL_HOSTS", "add_parser", "run"]

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "explore",
        help="watch a network learn in the browser (a page served on 127.0.0.1)",
        description="Serve the explorer: choose a data set and a network, then Play, Pause or Step and watch "
        "the decision boundary, the losses and the weights change; 'Step once' shows that step's full trace. "
        "Every number on the page is computed by the engine on this machine.",
    )
    p.add_argument("--port", type=int, default=8765, metavar="P", help="port to serve on (default 8765; 0: any free)")
    p.add_argument("--host", default="127.0.0.1", metavar="ADDR",
                   help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--no-browser", action="store_true", help="print the address without opening a browser")
    p.set_defaults(func=run)


def run(args) -> int:
    try:
        from ..explore import ExplorerServer
    except ModuleNotFoundError as e:
        if e.name not in ("flask", "werkzeug"):
            raise
        raise ConfigError("glassnet explore needs Flask: pip install 'glassnet[explore]'") from None
    port = check_non_negative_int("--port", args.port)
    if port > 65535:
        raise ConfigError(f"Received an invalid value for `--port`, expected an integer in [0, 65535]. "
                          f"Received: --port={port}")
    if args.host not in LOCAL_HOSTS:
        print(f"glassnet explore: warning: serving on {args.host}, not 127.0.0.1: anyone who can reach this "
              "port can train models and upload files on this machine", file=sys.stderr)
    try:
        server = ExplorerServer(host=args.host, port=port)
    except OSError as e:
        raise ConfigError(f"Cannot serve on {args.host}:{port}: {e.strerror or e}; choose another --port") from None
    server.start()
    if not args.quiet:
        print(f"glassnet explorer at {server.url}  (Ctrl-C stops it)", flush=True)
    if not args.no_browser:
        webbrowser.open(server.url)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
