"""The ``openai`` dialogue backend against real servers on 127.0.0.1.

``transformers serve`` (transformers' own OpenAI-compatible server) serves the tiny GLM folder the
other dialogue tests build; ``ScriptServer`` (FastAPI + uvicorn, ``openai_servers.py``) covers what
``transformers serve`` cannot be made to do: 401, a broken stream, a JSON answer, silence, and a
stream held open so the test can see the voice start before the server has finished.
"""

import json
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

from pipelines.dialogue.openai_stage import (
    OpenAIDialogue,
    ServerError,
    approx_tokens,
    list_models,
)
from pipelines.engine import Engine
from pipelines.messages import AudioChunk, TextChunk, UserTurn
from pipelines.persona import Persona
from pipelines.settings import (
    DEFAULT_PERSONA,
    Settings,
    SettingsError,
    load_settings,
    save_settings,
)
from pipelines.stage import TurnContext
from pipelines.testing.toy_stages import CollectSink, FlatFace, PassAudio, ToneTTS
from tests.dialogue.openai_servers import (
    HOST,
    ScriptServer,
    TransformersServe,
    free_port,
)

ROOT = Path(__file__).resolve().parents[2]
TURN_TIMEOUT = 60


@pytest.fixture(autouse=True)
def only_localhost(monkeypatch):
    """Every connection this process opens during a test goes to 127.0.0.1."""
    import socket

    seen = []
    connect = socket.socket.connect

    def recording_connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            seen.append(address[0])
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", recording_connect)
    yield seen
    assert set(seen) <= {HOST}, f"connections outside 127.0.0.1: {sorted(set(seen) - {HOST})}"


@pytest.fixture(scope="module")
def tf_serve(tiny_glm, tmp_path_factory):
    """``transformers serve`` on a free port of 127.0.0.1 with the tiny GLM, stopped at the end."""
    tmp = tmp_path_factory.mktemp("tf-serve")
    server = TransformersServe(tiny_glm, tmp / "serve.log", tmp / "hf-cache").start()
    yield server
    server.stop()


@pytest.fixture
def script_server():
    servers = []

    def make(**kw) -> ScriptServer:
        s = ScriptServer(**kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def persona():
    return Persona.load(DEFAULT_PERSONA)


def openai_settings(endpoint, model, tmp_path=None, **dialogue):
    s = Settings()
    if tmp_path is not None:
        s.output_dir = str(tmp_path)
    s.dialogue.backend = "openai"
    s.dialogue.openai.endpoint = endpoint
    s.dialogue.openai.model = model
    s.dialogue.openai.temperature = 0.0
    s.dialogue.openai.max_new_tokens = 24
    s.dialogue.openai.api_key_env = "PERSONA_TEST_KEY"
    s.dialogue.openai.connect_timeout_s = 2.0
    s.dialogue.openai.read_timeout_s = 10.0
    for key, value in dialogue.items():
        setattr(s.dialogue.openai, key, value)
    assert urlparse(s.dialogue.openai.endpoint).hostname == HOST
    return s


def run_turn(stage, text, turn_id=1, cancelled=lambda: False):
    ctx = TurnContext(turn_id, is_cancelled=cancelled)
    chunks = list(stage.process(UserTurn(turn_id, text), ctx))
    return chunks, ctx


def toy_engine(settings, tmp_path):
    """The real ``openai`` dialogue stage (built from the settings), toy voice and face stages."""
    stages = {"tts": ToneTTS(), "vc": PassAudio(), "face": FlatFace()}
    return Engine(settings, stages=stages, sink=CollectSink(), log_path=tmp_path / "log.jsonl").start()


# -- transformers serve ---------------------------------------------------------------------------


def test_headless_turn_through_transformers_serve(tf_serve, tmp_path):
    """main_demo.py, every stage real, the reply streamed from transformers serve."""
    r = subprocess.run(
        [
            sys.executable,
            "main_demo.py",
            "--text",
            "你好，介绍一下你自己",
            "--json",
            "--out",
            str(tmp_path / "turn.mp4"),
            "--output_dir",
            str(tmp_path),
            "--log",
            str(tmp_path / "log.jsonl"),
            "--dialogue.backend",
            "openai",
            "--dialogue.openai.endpoint",
            tf_serve.endpoint,
            "--dialogue.openai.model",
            tf_serve.model_dir,
            "--dialogue.openai.max_new_tokens",
            "24",
            "--dialogue.openai.temperature",
            "0",
        ],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    line = json.loads([x for x in r.stdout.splitlines() if x.startswith("{")][-1])
    assert line["status"] == "ok", line["error"]
    assert line["mode"] == "server"
    assert line["model"] == tf_serve.model_dir + "@main"  # the name the server reports
    assert line["reply"] and line["video_path"] == str(tmp_path / "turn.mp4")


def test_transformers_serve_streams_and_keeps_history(tf_serve, persona):
    stage = OpenAIDialogue.from_settings(openai_settings(tf_serve.endpoint, tf_serve.model_dir), persona)
    stage.load()
    chunks, ctx = run_turn(stage, "你好")
    assert len(chunks) > 1 and all(c.mode == "server" for c in chunks)
    assert ctx.info["dialogue_mode"] == "server" and ctx.info["dialogue_tokens"] == 24  # the server's usage
    assert ctx.info["dialogue_first_token_s"] > 0
    assert stage.history.window() == [("你好", "".join(c.text for c in chunks).strip())]
    assert list_models(tf_serve.endpoint) == [tf_serve.model_dir]
    stage.close()


def test_transformers_serve_wrong_model_then_right(tf_serve, persona):
    stage = OpenAIDialogue.from_settings(openai_settings(tf_serve.endpoint, "no-such-model"), persona)
    stage.load()
    with pytest.raises(ServerError) as err:
        run_turn(stage, "hi")
    msg = str(err.value)
    assert "\n" not in msg and tf_serve.endpoint in msg and "'no-such-model'" in msg and "dialogue.openai.model" in msg
    assert f"it offers: {tf_serve.model_dir}" in msg
    stage.cfg.model = tf_serve.model_dir
    chunks, _ = run_turn(stage, "hi", turn_id=2)
    assert chunks


def test_transformers_serve_interrupt_stops_the_stream(tf_serve, persona):
    stage = OpenAIDialogue.from_settings(
        openai_settings(tf_serve.endpoint, tf_serve.model_dir, max_new_tokens=4000), persona
    )
    stage.load()
    ctx = TurnContext(1)
    gen = stage.process(UserTurn(1, "hi"), ctx)
    got = [next(gen) for _ in range(3)]
    gen.close()  # what the worker does on an interrupt
    assert len(got) == 3 and stage.last_stats.chunks == 3
    assert stage.history.window() == []  # an interrupted reply is not kept
    stage.cfg.max_new_tokens = 24
    chunks, _ = run_turn(stage, "hi", turn_id=2)  # the server takes the next request at once
    assert chunks


# -- the scripted server: streaming and interrupts ------------------------------------------------


def test_first_sentence_reaches_the_voice_before_the_server_stream_ends(script_server, tmp_path):
    srv = script_server()
    srv.hold_after = 3  # "你好，" "我是" "小林。" then hold the stream open
    srv.start()
    events = []
    engine = toy_engine(openai_settings(srv.endpoint, ScriptServer.MODEL, tmp_path), tmp_path)
    voiced = threading.Event()

    def listen(stage, msg):
        events.append((stage, msg))
        if stage == "tts" and isinstance(msg, AudioChunk):
            voiced.set()

    engine.subscribe(listen)
    try:
        turn = engine.submit("你好，介绍一下你自己")
        assert voiced.wait(TURN_TIMEOUT), "no sentence reached the voice"
        assert not srv.sent_last.is_set(), "the server was still writing when the voice spoke"
        srv.release.set()
        rec = engine.wait(turn, TURN_TIMEOUT)
    finally:
        engine.close()
    assert rec.status == "ok", rec.error
    assert rec.mode == "server" and rec.model == ScriptServer.MODEL
    assert rec.reply == "".join(srv.pieces)
    spoken = [m.text for s, m in events if s == "tts" and isinstance(m, AudioChunk)]
    assert spoken[0].startswith("你好") and len(spoken) >= 2
    body = srv.requests[-1]["body"]
    assert body["stream"] is True and body["messages"][0]["role"] == "system"
    assert body["messages"][-1] == {"role": "user", "content": "你好，介绍一下你自己"}


def test_interrupt_mid_stream_closes_the_http_stream(script_server, tmp_path):
    srv = script_server()
    srv.hold_after = 2
    srv.start()
    engine = toy_engine(openai_settings(srv.endpoint, ScriptServer.MODEL, tmp_path), tmp_path)
    first_text = threading.Event()
    engine.subscribe(lambda stage, msg: first_text.set() if isinstance(msg, TextChunk) else None)
    try:
        turn = engine.submit("hi")
        assert first_text.wait(TURN_TIMEOUT)
        engine.interrupt()
        assert srv.stream_closed.wait(10), "the server's stream was left running"
        rec = engine.wait(turn, TURN_TIMEOUT)
        assert rec.status == "interrupted"
        assert not srv.sent_last.is_set()
        srv.hold_after, srv.stream_closed = None, threading.Event()
        rec2 = engine.wait(engine.submit("hi again"), TURN_TIMEOUT)
        assert rec2.status == "ok", rec2.error
        # the interrupted round is not in the history sent with the next turn
        assert [m["content"] for m in srv.requests[-1]["body"]["messages"] if m["role"] == "user"] == ["hi again"]
    finally:
        engine.close()


def test_interrupt_while_the_server_is_silent(script_server, persona):
    srv = script_server()
    srv.mode = "stall"
    srv.start()
    stage = OpenAIDialogue.from_settings(
        openai_settings(srv.endpoint, ScriptServer.MODEL, read_timeout_s=30.0), persona
    )
    stage.load()
    flag = threading.Event()
    threading.Timer(0.5, flag.set).start()
    chunks, _ = run_turn(stage, "hi", cancelled=flag.is_set)  # returns on the flag, not after 30 s
    assert chunks == []
    assert srv.stream_closed.wait(10)


def test_interrupt_before_the_server_answers(script_server, persona):
    srv = script_server()
    srv.mode = "slow_headers"
    srv.start()
    stage = OpenAIDialogue.from_settings(
        openai_settings(srv.endpoint, ScriptServer.MODEL, read_timeout_s=30.0), persona
    )
    stage.load()
    flag = threading.Event()
    threading.Timer(0.3, flag.set).start()
    chunks, _ = run_turn(stage, "hi", cancelled=flag.is_set)
    assert chunks == [] and not srv.headers_sent.is_set(), "the turn waited for the server's answer"
    srv.release.set()
    srv.mode = "ok"
    chunks, _ = run_turn(stage, "hi", turn_id=2)
    assert "".join(c.text for c in chunks) == "".join(srv.pieces)


# -- the scripted server: errors a user understands -------------------------------------------------


def one_line_error(stage, text="hi", turn_id=1) -> str:
    with pytest.raises(ServerError) as err:
        run_turn(stage, text, turn_id)
    msg = str(err.value)
    assert "\n" not in msg and stage.endpoint in msg
    return msg


def test_server_down_then_up(script_server, tmp_path):
    srv = script_server()  # not started yet: nothing listens on its port
    engine = toy_engine(openai_settings(srv.endpoint, ScriptServer.MODEL, tmp_path), tmp_path)
    try:
        rec = engine.wait(engine.submit("hi"), TURN_TIMEOUT)
        assert rec.status == "error"
        assert srv.endpoint in rec.error and "connection refused" in rec.error and "is it running" in rec.error
        srv.start()
        rec2 = engine.wait(engine.submit("hi"), TURN_TIMEOUT)
        assert rec2.status == "ok", rec2.error
        assert rec2.reply == "".join(srv.pieces)
    finally:
        engine.close()


def test_wrong_model_name_names_the_models_on_offer(script_server, persona):
    srv = script_server().start()
    stage = OpenAIDialogue.from_settings(openai_settings(srv.endpoint, "persona-typo"), persona)
    stage.load()
    msg = one_line_error(stage)
    assert "'persona-typo'" in msg and "HTTP 404" in msg and "it offers: persona" in msg


def test_wrong_endpoint_path(script_server, persona):
    srv = script_server().start()
    stage = OpenAIDialogue.from_settings(openai_settings(srv.endpoint[: -len("/v1")], ScriptServer.MODEL), persona)
    stage.load()
    assert "check dialogue.openai.endpoint" in one_line_error(stage)


def test_api_key_from_the_environment_never_in_settings_json(script_server, persona, tmp_path, monkeypatch):
    srv = script_server(api_key="sk-test-s3cret").start()
    settings = openai_settings(srv.endpoint, ScriptServer.MODEL)
    monkeypatch.delenv("PERSONA_TEST_KEY", raising=False)
    stage = OpenAIDialogue.from_settings(settings, persona)
    stage.load()
    msg = one_line_error(stage)
    assert "HTTP 401" in msg and "PERSONA_TEST_KEY is not set" in msg
    with pytest.raises(ServerError, match="401"):
        list_models(srv.endpoint, api_key="wrong")

    monkeypatch.setenv("PERSONA_TEST_KEY", "sk-test-s3cret")
    stage = OpenAIDialogue.from_settings(settings, persona)
    stage.load()
    chunks, _ = run_turn(stage, "hi")
    assert "".join(c.text for c in chunks) == "".join(srv.pieces)
    assert srv.requests[-1]["headers"]["authorization"] == "Bearer sk-test-s3cret"
    assert list_models(srv.endpoint, api_key="sk-test-s3cret") == [ScriptServer.MODEL]

    settings.dialogue.openai.api_key_env = "sk-test-s3cret"  # the key pasted where its variable's name goes
    with pytest.raises(SettingsError, match="never the key itself"):
        save_settings(settings, tmp_path / "settings.json")
    assert not (tmp_path / "settings.json").exists()
    settings.dialogue.openai.api_key_env = "PERSONA_TEST_KEY"
    path = save_settings(settings, tmp_path / "settings.json")
    text = path.read_text(encoding="utf-8")
    assert "s3cret" not in text and '"api_key_env": "PERSONA_TEST_KEY"' in text
    assert load_settings(path).dialogue.openai.endpoint == srv.endpoint


def test_stream_broken_midway_then_next_turn_works(script_server, persona):
    srv = script_server()
    srv.mode = "break"
    srv.start()
    stage = OpenAIDialogue.from_settings(openai_settings(srv.endpoint, ScriptServer.MODEL), persona)
    stage.load()
    msg = one_line_error(stage)
    assert "broke off after" in msg and "characters" in msg and "server's log" in msg
    assert stage.history.window() == []
    srv.mode = "ok"
    chunks, _ = run_turn(stage, "hi", turn_id=2)
    assert "".join(c.text for c in chunks) == "".join(srv.pieces)


def test_server_that_does_not_stream(script_server, persona):
    srv = script_server()
    srv.mode = "json"
    srv.start()
    stage = OpenAIDialogue.from_settings(openai_settings(srv.endpoint, ScriptServer.MODEL), persona)
    stage.load()
    msg = one_line_error(stage)
    assert "does not stream" in msg and "application/json" in msg


def test_silent_server_times_out_within_the_bound(script_server, persona):
    srv = script_server()
    srv.mode = "stall"
    srv.start()
    stage = OpenAIDialogue.from_settings(openai_settings(srv.endpoint, ScriptServer.MODEL, read_timeout_s=1.0), persona)
    stage.load()
    done = threading.Event()
    result = {}

    def turn():
        try:
            run_turn(stage, "hi")
        except ServerError as exc:
            result["error"] = str(exc)
        finally:
            done.set()

    threading.Thread(target=turn, daemon=True).start()
    assert done.wait(30), "the request loop is not bounded by dialogue.openai.read_timeout_s"
    assert "did not answer within 1 s" in result["error"] and srv.endpoint in result["error"]


def test_nothing_listening_and_bad_urls(persona):
    port = free_port()
    with pytest.raises(ServerError, match="connection refused"):
        list_models(f"http://{HOST}:{port}/v1", timeout_s=2)
    settings = openai_settings(f"http://{HOST}:{port}/v1", "m")
    settings.dialogue.openai.endpoint = "127.0.0.1:8000"  # no scheme
    stage = OpenAIDialogue.from_settings(settings, persona)
    with pytest.raises(ServerError, match="not an http"):
        stage.load()


def test_history_budget_and_every_request_on_localhost(script_server, persona):
    srv = script_server().start()
    stage = OpenAIDialogue.from_settings(openai_settings(srv.endpoint, ScriptServer.MODEL, history_tokens=40), persona)
    stage.load()
    for i in range(4):
        run_turn(stage, f"问题{i}", turn_id=i + 1)
    sent = srv.requests[-1]["body"]["messages"]
    users = [m["content"] for m in sent if m["role"] == "user"]
    assert users[-1] == "问题3" and "问题0" not in users and len(users) >= 2  # oldest rounds dropped
    assert sum(approx_tokens(f"{q}\n{a}\n") for q, a in stage.history.window()) <= 40
    assert sent[0] == {"role": "system", "content": persona.system_prompt}
    assert {r["client"] for r in srv.requests} == {HOST}


def test_empty_model_setting_takes_the_first_listed(script_server, persona, only_localhost):
    srv = script_server().start()
    stage = OpenAIDialogue.from_settings(openai_settings(srv.endpoint, ""), persona)
    stage.load()
    chunks, ctx = run_turn(stage, "hi")
    assert ctx.info["dialogue_model"] == ScriptServer.MODEL and chunks
    assert [r["path"] for r in srv.requests] == ["/v1/models", "/v1/chat/completions"]
    assert only_localhost and set(only_localhost) == {HOST}


def test_approx_tokens():
    assert approx_tokens("你好") == 2
    assert approx_tokens("hello world!") == 3
    assert approx_tokens("") == 0


# -- bench dialogue --backend openai ----------------------------------------------------------------


def test_bench_dialogue_against_a_server(script_server, capsys):
    from pipelines.bench import dialogue as bench

    srv = script_server().start()
    assert (
        bench.main(
            [
                "--backend",
                "openai",
                "--endpoint",
                srv.endpoint,
                "--model",
                ScriptServer.MODEL,
                "--turns",
                "1",
                "--tokens",
                "16",
                "--threads",
                "1",
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["models_listed"] == [ScriptServer.MODEL] and report["model"] == ScriptServer.MODEL
    (turn,) = report["per_turn"]
    assert turn["tokens"] == len(srv.pieces)  # no usage figures from this server: one chunk, one token
    assert 0 < turn["first_token_s"] < turn["first_audio_s"] < turn["wall_s"]
    assert turn["tokens_per_s"] > 0 and turn["chars"] == len("".join(srv.pieces))
    assert len([r for r in srv.requests if r.get("body")]) == 2  # warm-up + the measured turn

    srv.stop()  # the server goes away: one line, exit 2
    assert bench.main(["--backend", "openai", "--endpoint", srv.endpoint, "--turns", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "connection refused" in err and srv.endpoint in err


def test_registry_builds_the_openai_backend(persona):
    from pipelines.registry import build_stage

    settings = openai_settings(f"http://{HOST}:{free_port()}/v1", "m")
    stage = build_stage("dialogue", settings, persona)
    assert isinstance(stage, OpenAIDialogue) and stage.name == "dialogue"
    stage.load()  # no request at load: the server may start later
    assert stage.backend.startswith("openai (m at http://127.0.0.1:")
    assert settings.validate() == []
