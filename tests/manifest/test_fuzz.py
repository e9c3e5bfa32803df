"""Hypothesis: whatever JSON (or text) `validate` is given, it answers 0 or 2, never a traceback."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.manifest.samples import valid_manifest

SETTINGS = settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
KEYS = st.sampled_from(["name", "version", "base_models", "training", "config", "rank", "constraints", "requires",
                        "capabilities", "limitations", "path", "_comment", "adapters", "base_model", "schema_version"]) | st.text(max_size=8)
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
JSON = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(KEYS, kids, max_size=5), max_leaves=25)


def _check(cli, tmp_path, text: str) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    for extra in ((), ("--json",)):
        # the `cli` fixture re-raises anything that escapes the error mapping: a traceback fails the test
        res = cli("validate", "--manifest", path, *extra)
        assert res.exit_code in (0, 2), res
        assert "Traceback" not in res.output
        if extra:
            assert json.loads(res.stdout)["valid"] is (res.exit_code == 0)


@SETTINGS
@given(data=st.dictionaries(KEYS, JSON, max_size=8))
def test_random_objects(cli, tmp_path, data):
    _check(cli, tmp_path, json.dumps(data))


@SETTINGS
@given(data=JSON)
def test_random_json_values(cli, tmp_path, data):
    _check(cli, tmp_path, json.dumps(data))


@SETTINGS
@given(text=st.text(max_size=60))
def test_random_text(cli, tmp_path, text):
    _check(cli, tmp_path, text)


def _paths(node, prefix=()):
    """Every (path) into a JSON tree, containers included."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, prefix + (i,))


VALID_PATHS = [p for p in _paths(valid_manifest()) if p]


@st.composite
def mutated_manifests(draw):
    data = valid_manifest()
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(VALID_PATHS))
        node = data
        try:
            for key in path[:-1]:
                node = node[key]
            action = draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "replace":
                node[path[-1]] = draw(JSON)
            elif action == "delete":
                del node[path[-1]]
            elif isinstance(node, dict):
                node[draw(KEYS)] = draw(JSON)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or retyped this path
    return data


@SETTINGS
@given(data=mutated_manifests())
def test_mutations_of_a_valid_manifest(cli, tmp_path, data):
    _check(cli, tmp_path, json.dumps(data))
