"""The browser explorer: watch a network learn, with every number taken from the engine.

``glassnet explore`` serves a page on 127.0.0.1 where you choose a data set and a network, then Play,
Pause or Step; the decision boundary, the loss curves and the network diagram are drawn from what the
server returns (the model's ``predict``, ``evaluate`` and weights), and "Step once" shows that step's
full trace (``gn.trace.record``) with its workbook, JSON and model file. The JSON API is documented in
docs/explore.md. Needs Flask (``pip install glassnet[explore]``).

>>> from glassnet.explore import create_app
>>> client = create_app().test_client()
>>> sid = client.post("/api/session", json={"dataset": "xor", "seed": 0}).get_json()["id"]
>>> sorted(client.post(f"/api/session/{sid}/step", json={"steps": 5}).get_json())[:3]
['batch_loss', 'epoch', 'step']
"""

from .datasets import DATASETS, MAX_CSV_BYTES, MAX_CSV_ROWS, make_dataset, parse_csv
from .server import ExplorerServer, create_app
from .sessions import IDLE_TIMEOUT_S, LIMITS, Config, Session, SessionRegistry

__all__ = ["DATASETS", "IDLE_TIMEOUT_S", "LIMITS", "MAX_CSV_BYTES", "MAX_CSV_ROWS", "Config", "ExplorerServer",
           "Session", "SessionRegistry", "create_app", "make_dataset", "parse_csv"]
