"""Stale temporaries of killed runs are removed at start: our own names only, older than this process."""

from __future__ import annotations

import os
import time

from pipelines.atomic_files import remove_stale


def age(path, seconds=3600):
    t = time.time() - seconds
    for root, dirs, files in os.walk(path) if path.is_dir() else [(str(path.parent), [], [])]:
        for name in dirs + files:
            os.utime(os.path.join(root, name), (t, t))
    os.utime(path, (t, t))
    return path


def make_dir(path, size=10):
    path.mkdir()
    (path / "frames.npy").write_bytes(b"\0" * size)
    return path


def test_partial_turn_videos_are_cleaned_by_the_sink(tmp_path):
    from pipelines.sinks import FileSink

    stale = tmp_path / ".turn-20260101-000000-001.partial.mp4"
    stale.write_bytes(b"x")
    age(stale)
    fresh = tmp_path / ".turn-20260101-000000-002.partial.mp4"
    fresh.write_bytes(b"x")  # maybe another live engine's turn: kept
    users = [
        tmp_path / "turn-20260101-000000-001.mp4",
        tmp_path / "my.partial.mp4",
        tmp_path / ".reply.partial.mp4",
        tmp_path / "conversation.jsonl",
    ]
    for u in users:
        u.write_bytes(b"keep")
        age(u)
    FileSink(tmp_path).load()
    assert not stale.exists()
    assert fresh.exists() and all(u.exists() for u in users)


def test_avatar_new_and_old_folders_are_cleaned_when_the_avatar_is_there(tmp_path):
    from pipelines.face.avatar.storage import _recover

    avatar = make_dir(tmp_path / "avatar")
    new = age(make_dir(tmp_path / ".avatar.new-abc123"))
    old = age(make_dir(tmp_path / ".avatar.old-999999999-123"))
    other = age(make_dir(tmp_path / ".avatarx.new-abc"))  # not ours: another name
    lookalike = age(make_dir(tmp_path / "avatar.new-abc"))  # not hidden: the user's
    _recover(avatar)
    assert avatar.exists() and not new.exists() and not old.exists()
    assert other.exists() and lookalike.exists()


def test_an_old_copy_is_restored_not_deleted_when_the_avatar_is_missing(tmp_path):
    from pipelines.face.avatar.storage import _recover

    old = age(make_dir(tmp_path / ".avatar.old-999999999-1"))
    _recover(tmp_path / "avatar")
    assert (tmp_path / "avatar" / "frames.npy").is_file() and not old.exists()


def test_a_live_writer_keeps_its_old_copy(tmp_path):
    make_dir(tmp_path / "avatar")
    mine = age(make_dir(tmp_path / f".avatar.old-{os.getppid()}-5"))  # the parent (pytest's shell) is alive
    assert remove_stale(tmp_path, (".avatar.old-*",)) == []
    assert mine.exists()


def test_checkpoint_temporaries(tmp_path):
    make_dir(tmp_path / "checkpoint-10")
    stale = [age(make_dir(tmp_path / ".checkpoint-20.new-x1y2")), age(make_dir(tmp_path / ".best.new-q"))]
    kept = [make_dir(tmp_path / ".checkpoint-30.new-live"), age(make_dir(tmp_path / "checkpoint-20"))]
    patterns = (".checkpoint-*.new-*", ".checkpoint-*.old-*", ".best.new-*", ".best.old-*")
    removed = remove_stale(tmp_path, patterns)
    assert sorted(removed) == sorted(stale)
    assert all(k.exists() for k in kept)


def test_a_temporary_newer_than_this_process_is_kept(tmp_path):
    p = make_dir(tmp_path / ".avatar.new-1")
    age(p, 10)  # 10 s old, but this process is older: the running process may own it
    make_dir(tmp_path / "avatar")
    assert remove_stale(tmp_path, (".avatar.new-*",), started=time.time() - 3600) == []
