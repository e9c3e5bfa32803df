"""examples/expert-json: the generator, the held-out test cases, the schema grammar, the manifest and preprocess.py.

The generator is deterministic and varied (every field kind, every shape); held-out domains never
reach the training data; every answer is valid under its own schema and is a sentence of the
grammar the json_schema slot builds from the system message (so training answers and constrained
decoding agree byte for byte); the test cases are well-formed, current, and out of the training data.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path

import jsonschema
import pytest

EXPERT = Path(__file__).resolve().parents[2] / "examples" / "expert-json"
SCRIPTS = EXPERT / "scripts"


def _load(name: str):
    """A script of the example. Its library modules (json_*) import each other by bare name, so they
    are imported as such; the entry scripts share their names with expert-sql's (collect_data,
    make_test_cases) and are loaded under a name of their own, never as the bare one."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    if name.startswith("json_"):
        return importlib.import_module(name)
    spec = importlib.util.spec_from_file_location(f"expert_json_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen():
    return _load("collect_data")


@pytest.fixture(scope="module")
def domains():
    return _load("json_domains")


@pytest.fixture(scope="module")
def train_examples(gen, domains):
    return gen.generate(domains.TRAIN_DOMAINS, 3000, 7)


@pytest.fixture(scope="module")
def cases():
    return json.loads((EXPERT / "tests" / "test_cases.json").read_text(encoding="utf-8"))["test_cases"]


def test_generator_is_deterministic(gen, domains, train_examples):
    assert gen.generate(domains.TRAIN_DOMAINS, 3000, 7) == train_examples
    assert gen.generate(domains.TRAIN_DOMAINS, 50, 8) != train_examples[:50]


def test_data_is_varied(train_examples, domains):
    assert len({e["instruction"] for e in train_examples}) == len(train_examples)
    assert {e["domain"] for e in train_examples} == set(domains.TRAIN_DOMAINS)
    assert {e["shape"] for e in train_examples} == {"basic", "edge", "hard"}
    kinds = {f.kind for name in domains.TRAIN_DOMAINS for f in domains.DOMAINS[name].fields}
    assert kinds == set(_load("json_fields").KINDS)
    answers = [json.loads(e["output"]) for e in train_examples]
    share_null = sum(any(v is None for v in a.values()) for a in answers) / len(answers)
    assert 0.15 < share_null < 0.6, share_null
    assert any(v is False for a in answers for v in a.values()) and any(v is True for a in answers for v in a.values())
    assert len({json.dumps(e["schema"]) for e in train_examples}) > 1000  # many schema shapes, not a few templates


def test_training_mix_adds_distractors(domains):
    """Training texts carry more facts no key asks for than the test cases' mix (the measured failure:
    a distractor copied into a nullable field); the cases keep the default mix (the committed-cases
    test checks they are unchanged)."""
    tasks = _load("json_tasks")
    domain, rng = domains.DOMAINS["product"], random.Random(1)

    def mean_distractors(mix) -> float:
        return sum(len(tasks._distractors(domain, {"product_name"}, mix, rng)) for _ in range(2000)) / 2000

    assert 0.25 < mean_distractors(tasks.Mix()) < 0.35  # one unasked fact in ~30% of texts
    assert mean_distractors(tasks.TRAIN_MIX) > 0.75  # ~60%, and a second one in 40% of those


def test_heldout_domains_never_in_training(domains, train_examples, cases):
    heldout = set(domains.HELDOUT_DOMAINS)
    assert not heldout & set(domains.TRAIN_DOMAINS) and len(heldout) >= 5
    assert {e["domain"] for e in train_examples}.isdisjoint(heldout)
    own_keys = domains.all_keys(domains.HELDOUT_DOMAINS) - domains.all_keys(domains.TRAIN_DOMAINS)
    seen_keys = {k for e in train_examples for k in e["schema"]["properties"]}
    assert len(own_keys) >= 20 and not own_keys & seen_keys
    texts = "\n".join(e["instruction"] for e in train_examples)
    for value in domains.PETS + domains.ARTISTS:  # held-out value pools stay out of every training text
        assert value not in texts
    train_pairs = {(e["input"], e["instruction"]) for e in train_examples}
    train_texts = {e["instruction"] for e in train_examples}
    for c in cases:
        assert (c["system"], c["input"]) not in train_pairs and c["input"] not in train_texts, c["id"]


def test_answers_fit_their_schema_and_its_grammar(train_examples, cases):
    """The answer text is exactly what the json_schema slot's grammar allows for the system message."""
    from expertkit.manifest.loader import load_manifest
    from expertkit.runtime.grammar import compile_for_text, read_grammar, text_matches_grammar
    from expertkit.runtime.grammar_slots import GrammarSlot, fill_slots
    from expertkit.runtime.settings import settings_from_manifest

    settings = settings_from_manifest(load_manifest(EXPERT / "manifest.json"))
    assert settings.use_grammar and [s.kind for s in settings.grammar_slots] == ["json_schema"]
    grammar = read_grammar(settings.grammar_file)
    rows = [(e["input"], e["instruction"], e["output"]) for e in random.Random(3).sample(train_examples, 150)]
    rows += [(c["system"], c["input"], c["expected_output"]) for c in cases]
    copying = (GrammarSlot("root", "system", kind="json_schema", copy_from="user"),)  # every value is in the text
    for system, text, answer in rows:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": text}]
        jsonschema.validate(json.loads(answer), json.loads(system.split("\n", 1)[1]))
        for slots in (settings.grammar_slots, copying):
            assert text_matches_grammar(compile_for_text(fill_slots(grammar, slots, messages)), answer), answer
    fallback = compile_for_text(grammar)  # no schema in the system message: any compact JSON object
    assert all(text_matches_grammar(fallback, answer) for _, _, answer in rows[:20])


def test_test_cases_are_well_formed(cases, domains):
    from expertkit.evaluation.cases import load_cases

    assert len(cases) >= 40 and len({c["id"] for c in cases}) == len(cases)
    assert {c["match"] for c in cases} == {"json_equal"}
    assert {c["category"] for c in cases} == {"basic", "edge", "hard"}
    assert {c["id"].rsplit("_", 2)[0] for c in cases} == set(domains.HELDOUT_DOMAINS)
    assert len(load_cases(EXPERT / "tests" / "test_cases.json")) == len(cases)  # the runner's own checks


def test_committed_test_cases_match_the_script():
    assert _load("make_test_cases").build_cases() == json.loads((EXPERT / "tests" / "test_cases.json").read_text())["test_cases"]


def test_json_equal_judges_the_cases(cases):
    from expertkit.evaluation.cases import load_cases
    from expertkit.evaluation.matchers import judge

    loaded = {c.id: c for c in load_cases(EXPERT / "tests" / "test_cases.json")}
    for c in cases[:10]:
        expected = json.loads(c["expected_output"])
        reordered = json.dumps(dict(reversed(list(expected.items()))), separators=(",", ":"))
        assert judge(reordered, loaded[c["id"]]).passed
        wrong = {**expected, next(iter(expected)): "something else"}
        assert not judge(json.dumps(wrong), loaded[c["id"]]).passed


def test_manifest_validates_and_declares_routing(cli):
    res = cli("validate", "--manifest", str(EXPERT / "manifest.json"), cwd=EXPERT)
    assert res.exit_code == 0, res.stdout + res.stderr
    raw = json.loads((EXPERT / "manifest.json").read_text())
    assert raw["routing"]["keywords"] and raw["routing"]["exclude_keywords"] and 0 <= raw["routing"]["priority"] <= 1
    assert raw["routing"]["router_hint"] and "task:json_extraction" in raw["capabilities"]
    assert set(raw["constraints"]) >= {"load_order", "requires", "incompatible_with", "max_chain"}


def test_preprocess_hook_checks_the_answer_against_its_schema(train_examples):
    from expertkit.data.pipeline import load_hooks

    hooks = load_hooks(EXPERT / "preprocess.py")
    ex = train_examples[0]
    assert hooks.extra_validation(ex) is None and hooks.reasoning(ex) is None
    first = next(iter(ex["schema"]["properties"]))
    assert "not valid under the schema" in hooks.extra_validation({**ex, "output": json.dumps({first: 1.5})})
    assert "not JSON" in hooks.extra_validation({**ex, "output": "{oops"})
    assert hooks.extra_validation({**ex, "input": "no schema"}) == "input carries no JSON Schema"


def test_dataset_prepare_on_the_example(tmp_path, gen):
    import shutil

    from expertkit.data.pipeline import load_hooks, prepare

    work = tmp_path / "expert-json"
    shutil.copytree(EXPERT, work, ignore=shutil.ignore_patterns("datasets", "weights", "__pycache__"))
    assert gen.main(["--out", str(work), "--count", "400", "--heldout-count", "10"]) == 0
    result = prepare(work / "manifest.json", hooks=load_hooks(work / "preprocess.py"))
    assert result.written == 400
    first = json.loads((work / "datasets" / "train.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
    assert "<think>" not in first["text"] and first["messages"][2]["content"].startswith("{")


# ---------------------------------------------------------------- the hand-written evaluation set
@pytest.fixture(scope="module")
def handwritten():
    return json.loads((EXPERT / "tests" / "handwritten_cases.json").read_text(encoding="utf-8"))["test_cases"]


def test_handwritten_cases_are_well_formed_and_fit_the_grammar(handwritten):
    from expertkit.evaluation.cases import load_cases
    from expertkit.runtime.grammar import compile_for_text, read_grammar, text_matches_grammar
    from expertkit.runtime.grammar_slots import GrammarSlot, fill_slots

    assert len(handwritten) >= 20 and {c["category"] for c in handwritten} == {"basic", "edge", "hard"}
    assert len(load_cases(EXPERT / "tests" / "handwritten_cases.json")) == len(handwritten)
    grammar = read_grammar(EXPERT / "grammar.gbnf")
    slot = GrammarSlot("root", "system", kind="json_schema")
    copying = GrammarSlot("root", "system", kind="json_schema", copy_from="user")
    for c in handwritten:
        messages = [{"role": "system", "content": c["system"]}, {"role": "user", "content": c["input"]}]
        jsonschema.validate(json.loads(c["expected_output"]), slot.schema(messages))
        for slots in ([slot], [copying]):  # the manifest's slot copies values from the user message
            assert text_matches_grammar(compile_for_text(fill_slots(grammar, slots, messages)), c["expected_output"]), c["id"]


def test_handwritten_cases_stay_out_of_every_training_path(handwritten, domains, train_examples):
    domain_names = {c["id"].rsplit("_", 1)[0] for c in handwritten}
    assert not domain_names & set(domains.DOMAINS)
    texts = {e["instruction"] for e in train_examples}
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (*SCRIPTS.glob("*.py"), EXPERT / "preprocess.py"))
    for c in handwritten:
        assert c["input"] not in texts and c["input"][:40] not in sources, c["id"]

