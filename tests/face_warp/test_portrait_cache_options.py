"""A persona's cached portrait is keyed on the enrollment options too; faces enrolled from clips never are."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from pipelines.face.avatar.loading import load_avatar
from pipelines.face.avatar.storage import save_avatar
from pipelines.persona import Persona
from pipelines.settings import Settings


def _digest(folder):
    return {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_changing_pads_box_or_max_side_re_enrolls_the_cached_portrait(make_persona):
    root = make_persona("padded")
    persona, settings = Persona.load(root), Settings()
    av = load_avatar(persona, settings)
    meta = json.loads((root / "avatar" / "meta.json").read_text())
    assert meta["options"]["pads"] == [0, 10, 0, 0] and meta["options"]["box"] is None
    assert load_avatar(persona, settings) is av  # same options: the cache is used

    more = settings.replace("face.pads", "0 40 0 0")
    av2 = load_avatar(persona, more)
    assert av2 is not av
    assert av2.boxes[0][3] > av.boxes[0][3]  # a lower chin edge: the new pads were used
    assert json.loads((root / "avatar" / "meta.json").read_text())["options"]["pads"] == [0, 40, 0, 0]
    assert load_avatar(persona, more) is av2
    assert [p.name for p in root.iterdir() if p.name.startswith(".avatar.")] == []  # no temporaries left

    boxed = more.replace("face.box", "100 300 120 320")
    av3 = load_avatar(persona, boxed)
    assert json.loads((root / "avatar" / "meta.json").read_text())["options"]["box"] == [100, 300, 120, 320]
    assert not np.array_equal(av3.boxes, av2.boxes)

    # (a still image is read at up to 1024 px whatever enroll_max_side says; the option is still recorded)
    small = boxed.replace("face.box", "").replace("face.enroll_max_side", 256)
    assert load_avatar(persona, small) is not av3
    assert json.loads((root / "avatar" / "meta.json").read_text())["options"]["max_side"] == 256


def test_an_old_portrait_cache_without_options_is_enrolled_again(make_persona):
    root = make_persona("old")
    persona, settings = Persona.load(root), Settings()
    av = load_avatar(persona, settings)
    meta_path = root / "avatar" / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["options"]  # as written before the options were recorded
    meta_path.write_text(json.dumps(meta))
    assert load_avatar(persona, settings) is not av
    assert "options" in json.loads(meta_path.read_text())


def test_faces_enrolled_from_clips_are_never_re_enrolled_by_option_changes(make_persona, portrait_avatar):
    root = make_persona("clips")
    folder = root / "avatar"
    save_avatar(portrait_avatar, folder, {"kind": "clips", "options": {"pads": [0, 10, 0, 0]}})
    before = _digest(folder)
    persona = Persona.load(root)
    av = load_avatar(persona, Settings().replace("face.pads", "0 50 0 0").replace("face.nosmooth", True))
    np.testing.assert_array_equal(av.boxes, portrait_avatar.boxes)
    assert _digest(folder) == before


def test_bad_pads_while_a_portrait_is_cached_is_one_clear_error(make_persona):
    from pipelines.face.avatar.enroll import EnrollmentError

    root = make_persona("badpads")
    persona = Persona.load(root)
    load_avatar(persona, Settings())
    before = _digest(root / "avatar")
    with pytest.raises(EnrollmentError, match="pads"):
        load_avatar(persona, Settings().replace("face.pads", "0 ten"))
    assert _digest(root / "avatar") == before  # the cached face is untouched
