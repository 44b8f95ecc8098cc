"""The contract every stage implements: load / process / end_turn / close.

A stage is plain Python, owned by exactly one worker thread (see ``worker.py``),
so it never needs locks of its own.  ``process`` is a generator: the worker
checks between yielded outputs whether the turn was interrupted and closes the
generator if so, which is how a long reply stops at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Iterator, Self

from .messages import Message
from .stage_env import StageEnv

if TYPE_CHECKING:
    from .persona import Persona
    from .settings import Settings


def section_of(settings: Settings, dotted: str) -> Any:
    """``settings.dialogue.chatglm`` for "dialogue.chatglm"; None for ""."""
    if not dotted:
        return None
    node: Any = settings
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


@dataclass
class TurnContext:
    """What a stage may know about the turn it is working on."""

    turn_id: int
    is_cancelled: Callable[[], bool] = lambda: False
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def cancelled(self) -> bool:
        return self.is_cancelled()


class Stage:
    """Base class of a pipeline stage.

    Subclasses set ``name`` (used in timings and error messages) and implement
    ``process``.  ``load`` runs once in the worker thread before the first
    message; ``close`` once when the engine shuts down.
    """

    name: ClassVar[str] = "stage"
    #: short description of the backend, shown in the status bar / bench tables
    backend: str = ""
    #: the dotted settings section this backend is built from ("dialogue.chatglm"); "" for none
    settings_section: ClassVar[str] = ""

    def __init__(self, cfg: Any = None, persona: Persona | None = None, env: StageEnv | None = None) -> None:
        """``cfg``: the backend's own settings section; ``env``: device, threads, language, face options."""
        self.cfg = cfg
        self.persona = persona
        self.env = env or StageEnv()

    @classmethod
    def from_settings(cls, settings: Settings, persona: Persona | None = None, **kwargs: Any) -> Self:
        """The backend built from its own typed section of ``settings`` and the ``StageEnv``."""
        return cls(section_of(settings, cls.settings_section), persona, StageEnv.from_settings(settings), **kwargs)

    def load(self) -> None:
        """Load models.  Raise with a message that says what is missing and how to fix it."""

    def process(self, msg: Message, ctx: TurnContext) -> Iterator[Message]:
        raise NotImplementedError

    def end_turn(self, ctx: TurnContext) -> Iterable[Message]:
        """The turn's last input has been processed: flush what is buffered.

        A stage may add facts to ``ctx.info``; they travel on the ``TurnEnd``.
        """
        return ()

    def cancel_turn(self, turn_id: int) -> None:
        """The turn was interrupted or failed: drop whatever is buffered for it."""

    def reset(self) -> None:
        """Forget conversation state (``clear``)."""

    def restore_history(self, rounds: list[tuple[str, str]]) -> None:
        """Continue a conversation: ``rounds`` of (user text, reply), oldest first (after ``reset``)."""

    def close(self) -> None:
        """Release models and files."""

    def idle_frames(self, n: int = 75) -> tuple[Any, float]:
        """Face stages: ``(frames (N,H,W,3) uint8 or None, fps)`` to show between turns.

        Called on the stage's own worker thread (an ``IdleRequest``); None: nothing to show.
        """
        return None, 25.0

    def describe(self) -> str:
        return f"{self.name}:{self.backend or type(self).__name__}"
