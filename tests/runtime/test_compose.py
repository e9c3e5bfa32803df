"""The composition resolver's constraint matrix (pure: a dict stands in for attached/installed experts)."""

from __future__ import annotations

import pytest

from expertkit.errors import CompositionError
from expertkit.registry.versions import parse_requirement
from expertkit.runtime.compose import ExpertInfo, chain_settings, parse_spec, resolve
from expertkit.runtime.settings import DecodingSettings


def lookup_from(*infos: ExpertInfo):
    def lookup(name: str, spec: str | None):
        req = parse_requirement(f"{name}@{spec}" if spec else name)
        found = [i for i in infos if i.name == name and req.allows(i.version)]
        return found[-1] if found else None

    return lookup


SQL = ExpertInfo("expert-sql", "0.2.0", requires=("expert-json@>=0.1,<1",), load_order=8)
JSON = ExpertInfo("expert-json", "0.3.0", requires=("expert-base-fmt",), load_order=4)
FMT = ExpertInfo("expert-base-fmt", "1.0.0", load_order=2)
LOOKUP = lookup_from(SQL, JSON, FMT)


def test_requires_are_pulled_transitively_and_ordered_by_load_order():
    chain = resolve("expert-sql", LOOKUP)
    assert chain.names == ["expert-base-fmt", "expert-json", "expert-sql"]  # load_order 2, 4, 8
    assert [link.pulled_by for link in chain.links] == ["expert-json", "expert-sql", None]


def test_load_order_not_request_order_decides_application():
    a = ExpertInfo("a", "1.0.0", load_order=9)
    b = ExpertInfo("b", "1.0.0", load_order=3)
    c = ExpertInfo("c", "1.0.0")  # no load_order: after the numbered ones
    assert resolve("a+c+b", lookup_from(a, b, c)).names == ["b", "a", "c"]
    assert resolve(["c", "b", "a"], lookup_from(a, b, c)).names == ["b", "a", "c"]


def test_missing_requirements_are_named_all_at_once():
    lookup = lookup_from(ExpertInfo("x", "1.0.0", requires=("gone-a", "gone-b@>=2")))
    with pytest.raises(CompositionError) as err:
        resolve("x+nope", lookup)
    message = err.value.message
    assert "nope" in message and "gone-a (required by x)" in message and "gone-b@>=2 (required by x)" in message
    assert "install" in err.value.hint and "--" not in message + err.value.hint


def test_version_ranges_are_honoured():
    old_json = ExpertInfo("expert-json", "1.5.0")
    with pytest.raises(CompositionError, match=r"expert-json@>=0.1,<1 \(required by expert-sql\)"):
        resolve("expert-sql", lookup_from(SQL, old_json, FMT))
    with pytest.raises(CompositionError, match="requires expert-json@>=0.1,<1 but expert-json@1.5.0 is chosen"):
        resolve("expert-json@1.5.0+expert-sql", lookup_from(SQL, old_json, JSON, FMT))
    assert resolve("expert-json@0.3.0", LOOKUP).links[-1].version == "0.3.0"


def test_incompatible_names_both_either_direction():
    a = ExpertInfo("a", "1.0.0", incompatible_with=("b",))
    b = ExpertInfo("b", "2.0.0")
    for spec in ("a+b", "b+a"):
        with pytest.raises(CompositionError, match=r"a@1.0.0 is incompatible with b@2.0.0"):
            resolve(spec, lookup_from(a, b))
    ranged = ExpertInfo("a", "1.0.0", incompatible_with=("b@<2",))
    assert resolve("a+b", lookup_from(ranged, b)).names == ["a", "b"]  # only old b conflicts
    pulled = ExpertInfo("c", "1.0.0", requires=("b",))
    with pytest.raises(CompositionError, match="incompatible"):
        resolve("a+c", lookup_from(a, b, pulled))  # a conflict brought in by requires counts too


def test_max_chain_smallest_wins_and_requirements_count():
    a = ExpertInfo("a", "1.0.0", max_chain=3)
    b = ExpertInfo("b", "1.0.0", max_chain=2)
    c = ExpertInfo("c", "1.0.0")
    assert resolve("a+b", lookup_from(a, b, c)).max_chain == 2
    with pytest.raises(CompositionError, match="chain of 3 experts .* exceeds max_chain 2 of b"):
        resolve("a+b+c", lookup_from(a, b, c))
    with pytest.raises(CompositionError, match="exceeds max_chain 1"):
        resolve("s", lookup_from(ExpertInfo("s", "1.0.0", requires=("c",), max_chain=1), c))


def test_duplicates_collapse_and_weights():
    a, b = ExpertInfo("a", "1.0.0"), ExpertInfo("b", "1.0.0")
    chain = resolve("a:0.7+b:0.3+a", lookup_from(a, b))
    assert chain.key == (("a", 0.7), ("b", 0.3))
    with pytest.raises(CompositionError, match="different weights"):
        resolve("a:0.7+a:0.2", lookup_from(a))


@pytest.mark.parametrize("bad", ["", "a+", "a:x", "a:0", "a:-1", "a:11"])
def test_bad_specs(bad):
    with pytest.raises(CompositionError):
        parse_spec(bad)


def test_exact_version_spec():
    [want] = parse_spec("expert-sql@0.2.0:0.5")
    assert (want.name, want.requirement, want.weight) == ("expert-sql", "==0.2.0", 0.5)


def test_chain_settings_primary_grammar_and_length(tmp_path):
    default = DecodingSettings(max_new_tokens=16)
    fmt = DecodingSettings(max_new_tokens=400, use_grammar=True, grammar_file=tmp_path / "json.gbnf", enable_thinking=False)
    task = DecodingSettings(max_new_tokens=128, temperature=0.5, enable_thinking=True)
    got = chain_settings([("fmt", fmt, "sys-fmt"), ("task", task, "sys-task")], default, "default")
    s = got.settings
    assert (s.temperature, s.enable_thinking, got.system_prompt) == (0.5, True, "sys-task")  # the primary: last in load order
    assert (s.use_grammar, s.grammar_file) == (True, tmp_path / "json.gbnf")  # the only one with a grammar
    assert s.max_new_tokens == 400
    assert got.decided_by == {"settings": "task", "grammar": "fmt", "max_new_tokens": "fmt"}
    assert chain_settings([], default, "default").settings is default


def test_without_load_order_requirements_apply_first_and_cycles_end():
    a = ExpertInfo("a", "1.0.0", requires=("b",))
    b = ExpertInfo("b", "1.0.0", requires=("a",))
    assert resolve("a", lookup_from(a, b)).names == ["b", "a"]
    assert resolve("b+a", lookup_from(a, b)).names == ["a", "b"]


# -- alternatives: a+b|c (one chosen per request; runtime/gating.py) ------------------------------
def test_alternatives_bind_looser_than_plus_and_keep_weights_and_versions():
    from expertkit.runtime.compose import first_expert, is_gated, split_alternatives

    assert split_alternatives("a+b|c") == ["a+b", "c"]
    assert split_alternatives(" expert-sql:0.7 + expert-json | expert-json@0.3.0:0.5 ") == [
        "expert-sql:0.7 + expert-json", "expert-json@0.3.0:0.5"]
    assert split_alternatives("a+b") == ["a+b"] and not is_gated("a+b") and is_gated("a|b") and not is_gated(["a"])
    assert [w.weight for w in parse_spec(split_alternatives("a:0.7+b:0.3|c")[0])] == [0.7, 0.3]
    assert (first_expert("expert-sql@0.2.0+x|y").name, first_expert("expert-sql@0.2.0+x|y").requirement) == ("expert-sql", "==0.2.0")
    assert first_expert(["b", "a"]).name == "b"


@pytest.mark.parametrize(("bad", "message"), [
    ("a||b", "expert spec 'a||b': alternative 2 of 3 is empty"),
    ("a|", "expert spec 'a|': alternative 2 of 2 is empty"),
    ("|a", "expert spec '|a': alternative 1 of 2 is empty"),
    ("a+|b", "expert spec 'a+|b', alternative 'a+': empty expert name"),
    ("a|b:x", "expert spec 'a|b:x', alternative 'b:x': weight 'x' is not a number"),
    ("a|c+b:11", "expert spec 'a|c+b:11', alternative 'c+b:11': weight 11.0 is out of range"),
    ("a|b@", "expert spec 'a|b@', alternative 'b@': 'b@': the version after @ is empty"),
    ("a+b|b+a", "expert spec 'a+b|b+a': alternatives 'a+b' and 'b+a' are the same chain"),
])
def test_bad_alternatives_are_one_line_errors_naming_the_part(bad, message):
    from expertkit.runtime.compose import split_alternatives

    with pytest.raises(CompositionError) as err:
        split_alternatives(bad)
    assert err.value.message.startswith(message) and "\n" not in err.value.message and err.value.hint


def test_alternatives_are_never_composed():
    with pytest.raises(CompositionError, match="names alternatives"):
        resolve("a|b", lookup_from(ExpertInfo("a", "1.0.0"), ExpertInfo("b", "1.0.0")))
    with pytest.raises(CompositionError, match="names alternatives"):
        parse_spec(["a", "b|c"])
