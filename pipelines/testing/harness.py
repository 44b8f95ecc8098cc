"""Run one stage through a real ``StageWorker``: ``run_stage(stage, messages) -> outputs``.

The single-stage harness the stage tests share (after pipecat's ``run_test``): the
messages go through the same inbox, cancel gate, error path and output numbering as in
the engine, so a test sees what the next stage would see.  Each turn that is fed is
closed with a ``TurnEnd`` (so the stage flushes), unless ``end_turns`` is False.
"""

from __future__ import annotations

import queue
from collections.abc import Iterable

from pipelines.messages import Message, StageError, TurnEnd
from pipelines.stage import Stage
from pipelines.worker import SENTINEL, StageWorker, TurnGate


class StageFailed(RuntimeError):
    """The stage raised while processing: ``errors`` are the worker's ``StageError``s."""

    def __init__(self, errors: list[StageError]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors) + "\n" + errors[0].traceback)


def run_stage(
    stage: Stage,
    messages: Iterable[Message],
    *,
    end_turns: bool = True,
    keep_turn_ends: bool = False,
    cancelled: Iterable[int] = (),
    load: bool = False,
    timeout: float = 600.0,
) -> list[Message]:
    """Feed ``messages`` to ``stage`` in its own worker thread and return what it emits.

    ``cancelled``: turn ids cancelled before anything is fed (their messages must be dropped).
    ``load``: call ``stage.load()`` in the worker first (tests usually pass a loaded fixture).
    The stage is not closed, so a fixture can be reused.  A stage error raises ``StageFailed``.
    """
    inbox: queue.Queue = queue.Queue()
    outbox: queue.Queue = queue.Queue()
    gate = TurnGate()
    for t in cancelled:
        gate.cancel(t)
    errors: list[StageError] = []
    worker = StageWorker(stage, inbox, outbox, gate, on_error=errors.append, manage_stage=load)
    turns: list[int] = []
    for msg in messages:
        inbox.put(msg)
        if msg.turn_id not in turns:
            turns.append(msg.turn_id)
    if end_turns:
        for t in turns:
            inbox.put(TurnEnd(t))
    inbox.put(SENTINEL)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"stage {stage.name!r} did not finish within {timeout} s")
    if worker.load_error is not None:
        raise worker.load_error
    if errors:
        raise StageFailed(errors)
    out: list[Message] = []
    while not outbox.empty():
        m = outbox.get_nowait()
        if isinstance(m, TurnEnd) and not keep_turn_ends:
            continue
        out.append(m)
    return out
