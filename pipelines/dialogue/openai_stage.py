"""Dialogue backend ``openai``: any OpenAI-compatible server (vLLM, llama-server, Ollama, LM Studio, transformers serve).

The persona's system prompt and the kept history (``dialogue.openai.history_tokens``,
counted approximately: no local tokenizer) go to ``{endpoint}/chat/completions``
with ``stream: true`` through the official ``openai`` client; the deltas come
out as ``TextChunk(mode="server")`` while the server is still writing, so the
first sentence is spoken early.

The stream is read in a helper thread that hands deltas to a queue; the
stage's generator polls that queue and checks the turn's cancel flag, so an
interrupt ends the turn at once even while the server is silent, and the HTTP
stream is closed (its socket shut down) so the server stops generating.

Every failure ends the turn with one line naming the endpoint and what to
check (``ServerError``); the client is kept, so the next turn works as soon as
the server is back.  ``list_models`` is the Qt-free check the settings panel calls.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from ..messages import Message, TextChunk, UserTurn
from ..optional import require
from ..persona import Persona
from ..settings import OpenAISettings
from ..stage import Stage, TurnContext
from ..stage_env import StageEnv
from .history import ChatHistory
from .retrieval import EMPTY_EN, EMPTY_ZH

log = logging.getLogger(__name__)

#: sent as the key when the environment variable is unset (servers without keys ignore it)
NO_KEY = "EMPTY"
#: how often the consumer checks the cancel flag while the server is silent
POLL_S = 0.05
#: a reader thread gets this long to finish after its stream was closed
JOIN_S = 2.0

_END = object()


class ServerError(RuntimeError):
    """One line for the user: which endpoint, what went wrong, what to check."""


def approx_tokens(text: str) -> int:
    """Tokens of ``text`` without a tokenizer: one per CJK character, one per ~4 other characters."""
    cjk = sum(
        1 for ch in text if "\u2e80" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" or "\uff00" <= ch <= "\uffef"
    )
    other = len(text) - cjk
    return cjk + (other + 3) // 4


def check_endpoint(endpoint: str) -> str:
    """The endpoint without a trailing slash, or a ServerError saying what it should look like."""
    url = (endpoint or "").strip().rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ServerError(
            f"dialogue.openai.endpoint {endpoint!r} is not an http(s) URL: use a base URL such as http://127.0.0.1:8000/v1"
        )
    return url


def api_key_from_env(env_name: str) -> str | None:
    """The key from the environment variable named in the settings (None when unset)."""
    return os.environ.get(env_name) if env_name else None


def _client(endpoint: str, api_key: str | None, connect_s: float, read_s: float):
    openai = require("openai", purpose="the openai dialogue backend")
    timeout = openai.Timeout(read_s, connect=connect_s)
    return openai.OpenAI(base_url=endpoint, api_key=api_key or NO_KEY, timeout=timeout, max_retries=0)


def _detail(exc: Exception) -> str:
    """The server's own error message, on one short line."""
    body = getattr(exc, "body", None)
    msg = None
    if isinstance(body, dict):
        err = body.get("error", body)
        msg = err.get("message") or err.get("detail") if isinstance(err, dict) else err
        msg = msg or body.get("detail")
    text = str(msg or getattr(exc, "message", "") or exc)
    text = " ".join(text.split())
    return text[:200] + ("…" if len(text) > 200 else "")


def explain(
    exc: BaseException,
    endpoint: str,
    *,
    model: str = "",
    key_env: str = "",
    read_s: float | None = None,
    received: int | None = None,
    offered: list[str] | None = None,
) -> ServerError:
    """A ServerError with one line a user understands, for any failure of a request to ``endpoint``.

    ``received``: characters of the reply already streamed when the failure came mid-stream (None: before).
    ``offered``: the models the server lists (None: it lists none, its /models failed too).
    """
    if isinstance(exc, ServerError):
        return exc
    openai = require("openai", purpose="the openai dialogue backend")
    httpx = require("httpx2", "httpx2", purpose="the openai dialogue backend")
    mid = f" after {received} characters of the reply" if received is not None else ""
    if isinstance(exc, (openai.APITimeoutError, httpx.TimeoutException)):
        wait = f" within {read_s:g} s" if read_s else ""
        return ServerError(
            f"the dialogue server at {endpoint} did not answer{wait}{mid}: check that it is up "
            f"and not overloaded, or raise dialogue.openai.read_timeout_s"
        )
    if received is None and isinstance(exc, (openai.APIConnectionError, httpx.ConnectError)):
        cause = exc.__cause__ or exc
        why = (
            "connection refused"
            if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause).lower()
            else _detail(cause)
        )
        return ServerError(
            f"cannot reach the dialogue server at {endpoint} ({why}): is it running? check dialogue.openai.endpoint"
        )
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        if code in (401, 403):
            key = (
                f"the environment variable {key_env} is not set"
                if key_env and not os.environ.get(key_env)
                else f"check the key in the environment variable {key_env or '(dialogue.openai.api_key_env is empty)'}"
            )
            return ServerError(
                f"the dialogue server at {endpoint} refused the API key (HTTP {code}): {key} (dialogue.openai.api_key_env)"
            )
        detail = _detail(exc)
        if code == 404 or (code == 400 and model and model in detail):
            if offered is None:
                return ServerError(
                    f"{endpoint} has no OpenAI-compatible API (HTTP {code} for /chat/completions "
                    f"and /models): check dialogue.openai.endpoint (it usually ends in /v1)"
                )
            names = ", ".join(offered[:8]) + (", …" if len(offered) > 8 else "") if offered else "none listed"
            return ServerError(
                f"the dialogue server at {endpoint} has no model {model!r} (HTTP {code}): "
                f"check dialogue.openai.model (it offers: {names})"
            )
        return ServerError(f"the dialogue server at {endpoint} answered HTTP {code} ({detail}): check the server's log")
    if isinstance(exc, (openai.APIError, httpx.HTTPError, OSError)):
        return ServerError(
            f"the reply stream from {endpoint} broke off{mid} ({_detail(exc) or type(exc).__name__}): "
            f"check the server's log; the next turn retries"
        )
    return ServerError(f"the dialogue server at {endpoint} failed ({type(exc).__name__}: {_detail(exc)})")


def list_models(endpoint: str, api_key: str | None = None, timeout_s: float = 5.0) -> list[str]:
    """Model ids the server offers (``GET {endpoint}/models``); a one-line ServerError when it cannot say.

    Qt-free: the settings panel calls it (in a worker thread) when an endpoint is picked.
    """
    url = check_endpoint(endpoint)
    client = _client(url, api_key, min(timeout_s, 5.0), timeout_s)
    try:
        return [m.id for m in client.models.list()]
    except Exception as exc:  # noqa: BLE001 - any failure becomes one line for the user
        raise explain(exc, url, read_s=timeout_s) from None
    finally:
        client.close()


@dataclass
class ServerStats:
    """Figures of one streamed reply (what ``bench dialogue --backend openai`` reports)."""

    started: float = 0.0
    first_token_at: float | None = None
    finished_at: float | None = None
    chunks: int = 0
    completion_tokens: int | None = None  # from the server's usage, where it sends one
    model: str = ""
    chunk_times: list[float] = field(default_factory=list)

    @property
    def time_to_first_token(self) -> float | None:
        return None if self.first_token_at is None else self.first_token_at - self.started

    @property
    def tokens(self) -> int:
        return self.completion_tokens if self.completion_tokens is not None else self.chunks

    @property
    def tokens_per_second(self) -> float | None:
        """Decoding speed after the first token (a streamed chunk counts as a token without usage figures)."""
        if self.first_token_at is None or len(self.chunk_times) < 2:
            return None
        span = self.chunk_times[-1] - self.first_token_at
        return (self.tokens - 1) / span if span > 0 else None


class _OpenFailed(Exception):
    """The request failed before its stream began (``exc``: what the client raised)."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(str(exc))
        self.exc = exc


class _StreamReader:
    """Opens and reads one chat-completion stream in a daemon thread; ``abort`` stops it from any thread.

    The consumer gets, on ``items``: each chunk, then ``_END``; or an exception (``_OpenFailed`` when the
    request failed before streaming) and ``_END``.  Opening happens here too, so a turn interrupted
    while the server has not even answered returns at once (the late stream is closed on arrival).
    """

    def __init__(self, open_stream: Callable[[], Any], endpoint: str) -> None:
        self.open_stream = open_stream
        self.endpoint = endpoint
        self.stream: Any = None
        self.items: queue.Queue[Any] = queue.Queue()
        self._aborted = threading.Event()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="dialogue-openai-stream", daemon=True)

    def start(self) -> _StreamReader:
        self.thread.start()
        return self

    def _open(self) -> Any:
        try:
            stream = self.open_stream()
        except BaseException as exc:  # handed to the consumer (wrapped)
            raise _OpenFailed(exc) from exc
        content_type = stream.response.headers.get("content-type", "")
        if not content_type.startswith("text/event-stream"):
            stream.close()
            raise ServerError(
                f"the dialogue server at {self.endpoint} does not stream (it answered "
                f"{content_type.split(';')[0] or 'no content type'}, not text/event-stream): "
                f"check that it supports stream=true on /chat/completions"
            )
        return stream

    def _run(self) -> None:
        try:
            stream = self._open()
            with self._lock:
                self.stream = stream
            if self._aborted.is_set():  # interrupted while the server had not answered yet
                stream.close()
                return
            for chunk in stream:
                if self._aborted.is_set():
                    break
                self.items.put(chunk)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            if not self._aborted.is_set():
                self.items.put(exc)
        finally:
            self.items.put(_END)

    def abort(self) -> None:
        """Close the HTTP stream now: shut the socket down (wakes a blocked read), then close the response."""
        self._aborted.set()
        with self._lock:
            stream = self.stream
        if stream is None:
            return  # still connecting: the reader closes the stream when it arrives
        response = getattr(stream, "response", None)
        try:
            net = response.extensions.get("network_stream") if response is not None else None
            sock = net.get_extra_info("socket") if net is not None else None
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass
        with contextlib.suppress(Exception):  # already closed or broken: nothing left to stop
            stream.close()
        self.thread.join(JOIN_S)


class OpenAIDialogue(Stage):
    name = "dialogue"
    backend = "openai"

    settings_section = "dialogue.openai"

    def __init__(self, cfg: OpenAISettings, persona: Persona, env: StageEnv | None = None) -> None:
        self.cfg = cfg
        self.env = env or StageEnv()
        self.persona = persona
        self.history = ChatHistory(cfg.history_tokens, approx_tokens)
        self.endpoint = ""
        self.client = None
        self.last_stats: ServerStats | None = None

    # -- loading -----------------------------------------------------------
    def load(self) -> None:
        """Check the settings and build the client; the server itself is asked on each turn (it may start later)."""
        ds = self.cfg
        self.endpoint = check_endpoint(ds.endpoint)
        self.client = _client(self.endpoint, api_key_from_env(ds.api_key_env), ds.connect_timeout_s, ds.read_timeout_s)
        self.backend = f"openai ({ds.model or 'first model'} at {self.endpoint})"

    def _model(self) -> str:
        ds = self.cfg
        if ds.model:
            return ds.model
        try:
            models = [m.id for m in self.client.models.list()]
        except Exception as exc:  # noqa: BLE001 - any failure becomes one line for the user
            raise explain(exc, self.endpoint, key_env=ds.api_key_env, read_s=ds.read_timeout_s) from None
        if not models:
            raise ServerError(
                f"the dialogue server at {self.endpoint} lists no models: set dialogue.openai.model to the name it serves"
            )
        return models[0]

    def _offered(self, exc: Exception) -> list[str] | None:
        """After a 404/400: the models the server lists, to tell a wrong model from a wrong endpoint."""
        if getattr(exc, "status_code", None) not in (400, 404):
            return None
        try:
            return [m.id for m in self.client.models.list()]
        except Exception:  # noqa: BLE001 - /models failed too: the endpoint itself is wrong
            return None

    def messages(self, query: str) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": self.persona.system_prompt}] if self.persona.system_prompt else []
        for q, a in self.history.window():
            msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        msgs.append({"role": "user", "content": query})
        return msgs

    # -- stage contract ----------------------------------------------------
    def process(self, msg: Message, ctx: TurnContext) -> Iterator[Message]:
        if not isinstance(msg, UserTurn):
            return
        if self.client is None:
            self.load()
        ds = self.cfg
        query = msg.text.strip()
        ctx.info.update({"dialogue_mode": "server", "dialogue_endpoint": self.endpoint})
        if not query:
            yield TextChunk(msg.turn_id, text=EMPTY_ZH if self.persona.language == "zh" else EMPTY_EN, mode="server")
            return
        model = self._model()
        stats = ServerStats(model=model)
        self.last_stats = stats
        ctx.info["dialogue_model"] = model
        kwargs: dict[str, Any] = {"max_tokens": ds.max_new_tokens, "temperature": ds.temperature}
        if ds.temperature > 0:
            kwargs["top_p"] = ds.top_p
        stats.started = time.perf_counter()
        reader = _StreamReader(
            lambda: self.client.chat.completions.create(
                model=model, messages=self.messages(query), stream=True, **kwargs
            ),
            self.endpoint,
        ).start()
        reply: list[str] = []
        received = 0
        finished = False
        silent_since = time.perf_counter()
        try:
            while not ctx.cancelled:
                try:
                    item = reader.items.get(timeout=POLL_S)
                except queue.Empty:
                    # bounded: the client's own read timeout fires first; this is the backstop
                    if time.perf_counter() - silent_since > ds.read_timeout_s + ds.connect_timeout_s + 5:
                        raise ServerError(
                            f"the dialogue server at {self.endpoint} did not answer within "
                            f"{ds.read_timeout_s:g} s: check that it is up, or raise "
                            f"dialogue.openai.read_timeout_s"
                        ) from None
                    continue
                silent_since = time.perf_counter()
                if item is _END:
                    finished = True
                    break
                if isinstance(item, _OpenFailed):
                    raise explain(
                        item.exc,
                        self.endpoint,
                        model=model,
                        key_env=ds.api_key_env,
                        read_s=ds.read_timeout_s,
                        offered=self._offered(item.exc),
                    ) from None
                if isinstance(item, BaseException):
                    raise explain(
                        item,
                        self.endpoint,
                        model=model,
                        key_env=ds.api_key_env,
                        read_s=ds.read_timeout_s,
                        received=received,
                    ) from None
                if getattr(item, "model", None):
                    stats.model = item.model
                usage = getattr(item, "usage", None)
                if usage is not None and getattr(usage, "completion_tokens", None) is not None:
                    stats.completion_tokens = int(usage.completion_tokens)
                for choice in item.choices or ():
                    piece = getattr(choice.delta, "content", None) if choice.delta is not None else None
                    if not piece:
                        continue
                    now = time.perf_counter()
                    if stats.first_token_at is None:
                        stats.first_token_at = now
                    stats.chunks += 1
                    stats.chunk_times.append(now)
                    reply.append(piece)
                    received += len(piece)
                    yield TextChunk(msg.turn_id, text=piece, mode="server")
        finally:
            stats.finished_at = time.perf_counter()
            if not finished:
                reader.abort()  # interrupted (cancel flag or generator closed) or failed: stop the server's work
            ctx.info.update(
                {
                    "dialogue_model": stats.model,
                    "dialogue_tokens": stats.tokens,
                    "dialogue_first_token_s": stats.time_to_first_token,
                    "dialogue_tokens_per_s": stats.tokens_per_second,
                }
            )
        if finished and not ctx.cancelled:
            text = "".join(reply).strip()
            self.history.add(query, text)
            ctx.info["dialogue_reply"] = text

    def reset(self) -> None:
        self.history.clear()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
