"""A notebook-aware progress bar that plugs into the toolkit's callbacks.

Long computations take a progress callback rather than drawing anything
themselves (library code never prints). :class:`ProgressBar` turns each
callback shape used in glassland into one bar, drawn as a Jupyter widget in
a notebook (when ``ipywidgets`` is installed) and as text elsewhere:

=====================================================  =======================
callback                                               bound method
=====================================================  =======================
``train(..., on_record=row -> None)``                  :meth:`ProgressBar.advance`
``compute_spectra(..., on_snapshot=(done, total))``    :meth:`ProgressBar.to`
``run_compare(..., on_done=(done, total))``            :meth:`ProgressBar.to`
``run_state(..., progress=(phase, done, total))``      :meth:`ProgressBar.phase`
``run_study(..., progress=message)``                   :meth:`ProgressBar.message`
=====================================================  =======================

Example (in a notebook)::

    with ProgressBar(total=cfg.num_steps // cfg.record_every + 1,
                     desc="training") as bar:
        train(cfg, "run.h5", on_record=bar.advance)

Interrupting (the stop button, ``KeyboardInterrupt``) is safe: the bar is
closed, and every file is written atomically by the library, so what is on
disk is the last complete state (and training and simulations resume from
their checkpoints).
"""

from __future__ import annotations

import importlib.util
from typing import Any

__all__ = ["ProgressBar"]


def _tqdm_class():
    # tqdm.auto warns when it finds a notebook without ipywidgets; pick the
    # text bar ourselves in that case instead of warning the user every time.
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm


class ProgressBar:
    """One progress bar whose methods match the library's callbacks.

    Args:
        total: expected number of units (``None``: unknown, or set by the
            first :meth:`to` / :meth:`phase` call).
        desc: label in front of the bar.
        unit: name of one unit.
        disable: draw nothing (the callbacks still count).
        **tqdm_kwargs: passed to :class:`tqdm.tqdm` (``leave``, ``file``...).
    """

    def __init__(
        self,
        total: int | None = None,
        desc: str | None = None,
        *,
        unit: str = "it",
        disable: bool = False,
        **tqdm_kwargs: Any,
    ) -> None:
        if total is not None and (int(total) != total or total < 0):
            raise ValueError(f"total must be a non-negative integer, got {total!r}")
        self._bar = _tqdm_class()(
            total=total, desc=desc, unit=unit, disable=disable, **tqdm_kwargs
        )
        self._n, self._total, self._desc = 0, total, desc
        self._phase: str | None = None
        self.messages: list[str] = []

    @property
    def n(self) -> int:
        """Units done so far."""
        return self._n

    @property
    def total(self) -> int | None:
        """Units expected."""
        return self._total

    def advance(self, *_args: Any, **_kwargs: Any) -> None:
        """One more unit done (ignores its arguments: a record, a result)."""
        self._n += 1
        self._bar.update(1)

    def to(self, done: int, total: int | None = None) -> None:
        """``done`` of ``total`` units are done."""
        if total is not None and total != self._total:
            self._total = self._bar.total = total
        self._bar.update(int(done) - self._n)
        self._n = int(done)

    def phase(self, name: str, done: int, total: int) -> None:
        """``done`` of ``total`` units of the stage ``name`` are done."""
        if name != self._phase:
            self._phase = self._desc = name
            self._bar.set_description_str(str(name))
            self._bar.reset(total=total)
            self._n, self._total = 0, total
        self.to(done, total)

    def message(self, text: str) -> None:
        """A new stage began: shown as the bar's label, kept in :attr:`messages`."""
        self.messages.append(str(text))
        self._desc = str(text)
        self._bar.set_description_str(str(text))
        self.advance()

    def close(self) -> None:
        """Close the bar (idempotent)."""
        self._bar.close()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ProgressBar({self._desc!r}, {self.n}/{self.total})"
