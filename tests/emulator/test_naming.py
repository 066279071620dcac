"""examples/modal_app.py's naming rule against the shared test vectors (tests/fixtures/naming.json)."""

from __future__ import annotations

import importlib.util
import json

import pytest
from conftest import REPO

VECTORS = REPO / "tests" / "fixtures" / "naming.json"


def load_modal_app():
    spec = importlib.util.spec_from_file_location("modal_app_under_test", REPO / "examples" / "modal_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def vectors() -> list[dict]:
    if not VECTORS.exists():
        return []
    data = json.loads(VECTORS.read_text())
    return data["refs"] if isinstance(data, dict) else data


@pytest.mark.skipif(not VECTORS.exists(), reason="tests/fixtures/naming.json is not in this checkout")
@pytest.mark.parametrize("vector", vectors(), ids=lambda v: v["ref"] or "<empty>")
def test_modal_app_name_from_ref_matches_the_shared_vectors(vector):
    name_from_ref = load_modal_app().modal_app_name_from_ref
    if "error" in vector:
        with pytest.raises(ValueError):
            name_from_ref(vector["ref"])
    else:
        assert name_from_ref(vector["ref"]) == vector["app_name"]


def test_long_names_keep_a_head_and_a_hash():
    name = load_modal_app().modal_app_name_from_ref("ns/" + "a" * 70 + "@1")
    assert len(name) == 64
    assert name.startswith("ns-" + "a" * 52 + "-")
