"""The callback contract: the hooks ``fit`` calls and the state a callback keeps across a resume.

Its own module, below both :mod:`glassnet.callbacks` and :mod:`glassnet.health`, so that each can build
on it without importing the other.
"""

from __future__ import annotations

__all__ = ["Callback"]


class Callback:
    """Base class; ``self.model`` is set by ``fit`` before ``on_train_begin``.

    A callback whose decisions depend on earlier epochs (a patience counter, a best value) keeps that
    state in :meth:`get_state`/:meth:`set_state`: it is reset at train start, as Keras does, so a
    reused callback starts afresh with each ``fit``; it is saved in checkpoints (through
    :meth:`Sequential.state_dict <glassnet.Sequential.state_dict>`) and put back when ``fit`` resumes
    from one, so a resumed run decides exactly as an uninterrupted one.
    """

    model = None

    def get_state(self) -> dict:
        """This callback's resumable state: JSON-able values and arrays (empty: nothing to resume)."""
        return {}

    def set_state(self, state: dict) -> None:
        """Put back what :meth:`get_state` returned."""
        for k, v in state.items():
            setattr(self, k, v)

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Called once when ``fit`` starts: reset the state here (a resumed fit restores it afterwards)."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Called before each epoch (0-based ``epoch``)."""

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Called after each training step; ``logs["loss"]`` is that batch's loss."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Called after each epoch with its logs (``loss``, metrics, ``val_*``); may set ``model.stop_training``."""

    def on_train_end(self, logs: dict | None = None) -> None:
        """Called once when ``fit`` ends, stopped early or interrupted (not when it raises DivergenceError)."""
