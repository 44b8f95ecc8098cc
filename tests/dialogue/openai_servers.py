"""Real OpenAI-compatible servers on 127.0.0.1 for the ``openai`` dialogue backend's tests.

- ``TransformersServe``: ``transformers serve`` (transformers' own server) in a subprocess, serving a
  local model folder offline.
- ``ScriptServer``: a small FastAPI/uvicorn server (in a thread of the test process) that speaks the
  same protocol (``/v1/models``, ``/v1/chat/completions`` with SSE) and can be told to misbehave the
  ways real servers do: 401, unknown model (404, vLLM's body), a stream that breaks in the middle,
  a JSON answer to ``stream: true``, silence; and to hold its stream open until the test releases it.
"""

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

HOST = "127.0.0.1"


def free_socket() -> socket.socket:
    """A listening-ready socket bound to a free port on 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    return sock


def free_port() -> int:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    return port


def wait_until(check, timeout: float, what: str, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(step)
    raise TimeoutError(f"{what} not within {timeout} s")


def put_in_hub_cache(model_dir: Path, cache_dir: Path, repo_id: str) -> str:
    """Place a model folder in an offline hub cache (the layout huggingface_hub writes: blobs named by
    their sha256, a snapshot of symlinks, refs/main), so a server finds and lists it by ``repo_id``."""
    import hashlib
    import shutil

    repo = cache_dir / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for f in sorted(Path(model_dir).iterdir()):
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        shutil.copyfile(f, repo / "blobs" / digest)
        link = snapshot / f.name
        if not link.exists():
            link.symlink_to(Path("..") / ".." / "blobs" / digest)
    (repo / "refs" / "main").write_text(commit)
    return repo_id


class TransformersServe:
    """``transformers serve <model> --host 127.0.0.1 --port N`` started and stopped by the tests.

    The model folder is served from an offline hub cache under the name ``persona/tiny-glm`` so that
    ``/v1/models`` lists it (transformers serve lists the hub cache; a folder path works too, unlisted).
    """

    REPO_ID = "persona/tiny-glm"

    def __init__(self, model_dir: Path, log_path: Path, cache_dir: Path) -> None:
        self.model_dir = put_in_hub_cache(model_dir, cache_dir, self.REPO_ID)
        self.port = free_port()
        self.endpoint = f"http://{HOST}:{self.port}/v1"
        self.log_path = log_path
        self.cache_dir = cache_dir
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> "TransformersServe":
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        env = dict(
            os.environ,
            HF_HUB_OFFLINE="1",
            HF_HUB_CACHE=str(self.cache_dir),
            OMP_NUM_THREADS="1",
            TOKENIZERS_PARALLELISM="false",
        )
        cli = Path(sys.executable).with_name("transformers")
        cmd = [str(cli)] if cli.exists() else [sys.executable, "-m", "transformers.cli.transformers"]
        cmd += [
            "serve",
            self.model_dir,
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--device",
            "cpu",
            "--dtype",
            "float32",
        ]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - open while the server runs
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)

        def healthy() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"transformers serve exited ({self.proc.returncode}): "
                    f"{self.log_path.read_text(errors='replace')[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.port}/health", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_until(healthy, timeout, "transformers serve healthy", step=0.3)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        if getattr(self, "_log", None):
            self._log.close()


def _chunk(content=None, role=None, finish=None, model="persona") -> str:
    delta = {k: v for k, v in (("role", role), ("content", content)) if v is not None}
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


class ScriptServer:
    """An OpenAI-compatible FastAPI app on 127.0.0.1 whose behaviour the test sets.

    ``mode``: "ok" | "break" (stream some pieces, then drop the connection) | "json" (answer
    ``stream: true`` with a plain JSON completion) | "stall" (role chunk, then silence) |
    "slow_headers" (no answer at all until ``release``, then streams like "ok").
    ``hold``: when set, the "ok" stream pauses after ``hold_after`` pieces until ``release`` is set.
    """

    MODEL = "persona"

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.mode = "ok"
        self.pieces = ["你好，", "我是", "小林。", "今天", "天气", "很好！", "我们", "去散步", "吧？"]
        self.delay = 0.01
        self.hold_after: int | None = None
        self.release = threading.Event()
        self.requests: list[dict] = []  # body, headers and client address of every request
        self.stream_closed = threading.Event()  # set when a stream ended early (client went away)
        self.sent_last = threading.Event()  # set when an "ok" stream wrote its last piece
        self.headers_sent = threading.Event()  # "slow_headers": set when the server finally answers
        self.port = free_port()
        self.endpoint = f"http://{HOST}:{self.port}/v1"
        self._server = None
        self._thread: threading.Thread | None = None

    # -- the app -------------------------------------------------------------
    def app(self):
        from fastapi import FastAPI, Request
        from fastapi.responses import JSONResponse, StreamingResponse

        app = FastAPI()
        srv = self

        def refused(request: Request):
            srv.requests.append(
                {
                    "path": request.url.path,
                    "headers": dict(request.headers),
                    "client": request.client.host if request.client else None,
                }
            )
            if srv.api_key and request.headers.get("authorization") != f"Bearer {srv.api_key}":
                return JSONResponse(
                    {
                        "error": {
                            "message": "Incorrect API key provided.",
                            "type": "invalid_request_error",
                            "code": "invalid_api_key",
                        }
                    },
                    status_code=401,
                )
            return None

        @app.get("/v1/models")
        async def models(request: Request):
            bad = refused(request)
            if bad is not None:
                return bad
            return {"object": "list", "data": [{"id": srv.MODEL, "object": "model", "owned_by": "test"}]}

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            bad = refused(request)
            if bad is not None:
                return bad
            body = await request.json()
            srv.requests[-1]["body"] = body
            if body.get("model") != srv.MODEL:
                return JSONResponse(
                    {
                        "object": "error",
                        "message": f"The model `{body.get('model')}` does not exist.",
                        "type": "NotFoundError",
                        "param": None,
                        "code": 404,
                    },
                    status_code=404,
                )
            if srv.mode == "slow_headers":  # e.g. a server loading its model on the first request
                for _ in range(1000):  # bounded: 20 s at most
                    if srv.release.is_set():
                        break
                    await asyncio.sleep(0.02)
                srv.headers_sent.set()
            if srv.mode == "json":
                return {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": 0,
                    "model": srv.MODEL,
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": "".join(srv.pieces)},
                        }
                    ],
                }

            async def events():
                try:
                    yield _chunk(role="assistant")
                    if srv.mode == "stall":
                        for _ in range(600):  # bounded: 60 s at most
                            await asyncio.sleep(0.1)
                        return
                    for i, piece in enumerate(srv.pieces):
                        if srv.mode == "break" and i == 3:
                            raise RuntimeError("the test server drops the connection")
                        if srv.hold_after is not None and i == srv.hold_after:
                            for _ in range(1000):  # bounded: 20 s at most
                                if srv.release.is_set():
                                    break
                                await asyncio.sleep(0.02)
                        yield _chunk(content=piece)
                        await asyncio.sleep(srv.delay)
                    srv.sent_last.set()
                    yield _chunk(finish="stop")
                    yield "data: [DONE]\n\n"
                except (asyncio.CancelledError, GeneratorExit):
                    srv.stream_closed.set()
                    raise

            return StreamingResponse(events(), media_type="text/event-stream")

        return app

    # -- life cycle ------------------------------------------------------------
    def start(self) -> "ScriptServer":
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, self.port))
        config = uvicorn.Config(self.app(), log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="script-server", daemon=True
        )
        self._thread.start()
        wait_until(lambda: self._server.started, 20, "test server started", step=0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self.release.set()
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = None
