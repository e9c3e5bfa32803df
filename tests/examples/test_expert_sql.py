"""examples/expert-sql: the data generator, the held-out test cases, the grammar, the manifest and preprocess.py.

Every file of the example expert is exercised here: the generator is deterministic and every
query it emits runs on its schema; held-out schemas never reach the training data; the test
cases are well-formed, their setups run and their expected queries return discriminating rows;
grammar.gbnf compiles with xgrammar and accepts every SQL we train on or expect; the manifest
validates; preprocess.py's hooks build reasoning from the query plan.
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
import sqlite3
import sys
from pathlib import Path

import pytest

EXPERT = Path(__file__).resolve().parents[2] / "examples" / "expert-sql"
SCRIPTS = EXPERT / "scripts"


def _load(name: str):
    """Import a script of the example by path (the scripts import their siblings by bare name)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def gen():
    return _load("collect_data")


@pytest.fixture(scope="module")
def schemas():
    return _load("sql_schemas")


@pytest.fixture(scope="module")
def train_examples(gen, schemas):
    return gen.generate(schemas.TRAIN_SCHEMAS, 2000, 7, mixed=tuple(schemas.MIXED_SCHEMAS))


@pytest.fixture(scope="module")
def cases():
    return json.loads((EXPERT / "tests" / "test_cases.json").read_text(encoding="utf-8"))["test_cases"]


def test_generator_is_deterministic(gen, schemas, train_examples):
    again = gen.generate(schemas.TRAIN_SCHEMAS, 2000, 7, mixed=tuple(schemas.MIXED_SCHEMAS))
    assert again == train_examples
    assert gen.generate(schemas.TRAIN_SCHEMAS, 50, 8) != train_examples[:50]


def test_committed_raw_file_matches_the_generator(tmp_path, gen):
    assert gen.main(["--out", str(tmp_path)]) == 0
    for rel in ("datasets/raw/sql_train.jsonl", "datasets/heldout/sql_heldout.jsonl"):
        committed = EXPERT / rel
        if committed.exists():  # generated files are git-ignored; when present they must be current
            assert committed.read_bytes() == (tmp_path / rel).read_bytes(), rel


def test_every_generated_query_runs_on_its_schema(gen, schemas, train_examples):
    heldout = gen.generate(schemas.HELDOUT_SCHEMAS, 200, 8)
    for ex in train_examples[:400] + heldout:
        db = schemas.make_database(gen.ALL_SCHEMAS[ex["schema"]], 0)
        gen.check_sql(db.setup_sql(), ex["output"])  # raises sqlite3.Error when it doesn't run


def test_data_is_varied_and_short(train_examples):
    assert len(train_examples) >= 1000
    shapes = {e["shape"] for e in train_examples}
    assert len(shapes) >= 20
    by_shape: dict[str, set[str]] = {}
    for e in train_examples:
        words = " ".join(e["instruction"].split()[:2])
        by_shape.setdefault(e["shape"], set()).add(words)
    assert all(len(openings) >= 3 for openings in by_shape.values()), "each shape needs several phrasings"
    assert max(len(e["input"]) + len(e["instruction"]) + len(e["output"]) + len(e["reasoning"]) for e in train_examples) < 700
    assert len({e["schema"] for e in train_examples}) >= 100
    mixed = sum("+" in e["schema"] for e in train_examples) / len(train_examples)
    assert 0.4 < mixed < 0.6  # half over recombined tables (MIXED_SHARE)


def test_recombined_schemas_link_parent_and_child(schemas):
    assert len(schemas.MIXED_SCHEMAS) == 132
    for name, s in schemas.MIXED_SCHEMAS.items():
        parent_src, child_src = name.split("+")
        assert s.parent.name.endswith(schemas.SCHEMAS[parent_src].parent.name) and s.child.name.endswith(schemas.SCHEMAS[child_src].child.name)
        assert s.fk.name == f"{s.parent.singular}_id"


def test_heldout_schemas_never_in_training(schemas, train_examples):
    held = schemas.HELDOUT_SCHEMAS
    assert held and not set(held) & set(schemas.TRAIN_SCHEMAS)
    held_tables = {t.name for n in held for t in schemas.SCHEMAS[n].tables}
    train_tables = {t.name for n in schemas.TRAIN_SCHEMAS for t in schemas.SCHEMAS[n].tables}
    assert not held_tables & train_tables
    for e in train_examples:
        assert e["schema"] not in held
        assert not any(f"{t}(" in e["input"] or f" {t} " in f" {e['output']} " for t in held_tables)


def test_reasoning_describes_the_query(train_examples):
    for e in train_examples[:400]:
        plan = e["plan"]
        assert plan["from"] in e["reasoning"] and ", ".join(plan["select"]) in e["reasoning"]
        named = [hit for _, hit in plan["mentions"]]
        assert e["reasoning"].startswith("Mentioned? ") and e["reasoning"].count(": yes") == sum(named)
        # the rule the reasoning teaches: the query joins exactly when the question names both tables
        assert (len(named) == 2 and all(named)) == bool(plan.get("join")) == (" Join " in e["reasoning"])
        words = set(re.findall(r"[a-z_]+", e["instruction"].lower().replace("_", " ")))
        for word, hit in plan["mentions"]:
            assert hit or not {word, word.split("_")[-1]} & words  # "no" means the question really doesn't name it
        if plan.get("where"):  # the plan names the filter column and value it chose
            assert "Filter " + " AND ".join(" ".join(c) for c in plan["where"]) + "." in e["reasoning"]


def test_test_cases_are_well_formed(cases, schemas):
    assert len(cases) >= 40
    assert {c["category"] for c in cases} == {"basic", "edge", "hard"}
    assert len({c["id"] for c in cases}) == len(cases)
    systems = {schemas.SCHEMAS[n].system() for n in schemas.HELDOUT_SCHEMAS}
    for c in cases:
        assert c["match"] == "sql_exec"
        assert c["input"] and c["expected_output"].endswith(";")
        assert c["system"] in systems, c["id"]  # exactly the training-time system turn, held-out schemas only
        conn = sqlite3.connect(":memory:")
        conn.executescript(c["setup"])
        rows = conn.execute(c["expected_output"]).fetchall()
        conn.close()
        assert rows, f"{c['id']}: expected query returns no rows"


def test_test_cases_discriminate_wrong_queries(cases):
    from expertkit.evaluation.sql_exec import compare_sql

    for c in cases:
        assert compare_sql(c["expected_output"], c["expected_output"], c["setup"]).passed
        table = c["expected_output"].split(" FROM ")[1].split()[0].rstrip(";")
        assert not compare_sql(f"SELECT * FROM {table};", c["expected_output"], c["setup"]).passed or c["expected_output"].startswith("SELECT * FROM")


def test_committed_test_cases_match_the_script():
    mk = _load("make_test_cases")
    committed = json.loads((EXPERT / "tests" / "test_cases.json").read_text(encoding="utf-8"))["test_cases"]
    assert mk.build_cases() == committed


def test_grammar_compiles_and_accepts_every_sql(train_examples, cases):
    xgr = pytest.importorskip("xgrammar")
    grammar = xgr.Grammar.from_ebnf((EXPERT / "grammar.gbnf").read_text(encoding="utf-8"))
    vocab = [chr(c) for c in range(32, 127)] + ["<|im_end|>"]
    info = xgr.TokenizerInfo(vocab, stop_token_ids=[len(vocab) - 1])
    compiled = xgr.GrammarCompiler(info).compile_grammar(grammar)
    stop = len(vocab) - 1
    sqls = [e["output"] for e in train_examples] + [c["expected_output"] for c in cases]
    for sql in sqls:
        m = xgr.GrammarMatcher(compiled)
        assert m.accept_string(sql) and m.accept_token(stop) and m.is_terminated(), sql
    for bad in ("SELECT name FROM t", "DELETE FROM t;", "SELECT name FROM t WHERE;", "select name from t;"):
        m = xgr.GrammarMatcher(compiled)
        assert not (m.accept_string(bad) and m.accept_token(stop)), bad


def test_grammar_slots_accept_every_expected_sql_and_refuse_foreign_names(train_examples, cases):
    """Filled from each prompt, the slots still allow the right SQL, and forbid names not in the prompt."""
    from expertkit.manifest.loader import load_manifest
    from expertkit.runtime.grammar import compile_for_text, text_matches_grammar
    from expertkit.runtime.grammar_slots import fill_slots
    from expertkit.runtime.settings import settings_from_manifest

    settings = settings_from_manifest(load_manifest(EXPERT / "manifest.json"))
    assert {s.rule for s in settings.grammar_slots} == {"table", "column", "word"}
    grammar = (EXPERT / "grammar.gbnf").read_text(encoding="utf-8")
    def chat(system: str, question: str) -> list[dict]:
        return [{"role": "system", "content": system}, {"role": "user", "content": question}]

    pairs = [(chat(c["system"], c["input"]), c["expected_output"]) for c in cases]
    pairs += [(chat(e["input"], e["instruction"]), e["output"]) for e in train_examples[::5]]  # raw: input = schema
    for messages, sql in pairs:
        assert text_matches_grammar(compile_for_text(fill_slots(grammar, settings.grammar_slots, messages)), sql), sql
    zoo = next(c for c in cases if c["id"] == "zoo_filter_text")  # "... whose species is giraffe."
    filled = compile_for_text(fill_slots(grammar, settings.grammar_slots, chat(zoo["system"], zoo["input"])))
    assert text_matches_grammar(filled, zoo["expected_output"])
    for wrong in ("SELECT title FROM animals;", "SELECT name FROM zoo;", "SELECT name FROM animals WHERE species = 'giraffa';"):
        assert not text_matches_grammar(filled, wrong), wrong


def test_reasoning_fits_the_reasoning_rule(train_examples):
    """The think block of every training example is a sentence of grammar.gbnf's reasoning rule, filled from its prompt."""
    from expertkit.manifest.loader import load_manifest
    from expertkit.runtime.grammar import compile_for_text, text_matches_grammar
    from expertkit.runtime.grammar_slots import fill_slots
    from expertkit.runtime.settings import settings_from_manifest

    settings = settings_from_manifest(load_manifest(EXPERT / "manifest.json"))
    grammar = (EXPERT / "grammar.gbnf").read_text(encoding="utf-8")
    assert any(len(e["plan"]["mentions"]) == 1 for e in train_examples)  # some schemas have a single table
    for e in train_examples[::9]:
        messages = [{"role": "system", "content": e["input"]}, {"role": "user", "content": e["instruction"]}]
        compiled = compile_for_text(fill_slots(grammar, settings.grammar_slots, messages), root=settings.reasoning_rule)
        assert text_matches_grammar(compiled, "\n" + e["reasoning"] + "\n</think>"), e["reasoning"]


def test_manifest_validates(cli):
    res = cli("validate", "--manifest", str(EXPERT / "manifest.json"), cwd=EXPERT)
    assert res.exit_code == 0, res.stdout + res.stderr


def test_preprocess_hooks(schemas):
    from expertkit.data.pipeline import load_hooks

    hooks = load_hooks(EXPERT / "preprocess.py")
    assert hooks is not None and hooks.reasoning and hooks.extra_validation
    rng = random.Random(1)
    shapes = _load("sql_asks")
    s = schemas.SCHEMAS["shop"]
    ex = shapes.make_example("join_filter", s, schemas.make_database(s, 0), rng)
    assert hooks.reasoning(ex) == ex["reasoning"] and "Join products and suppliers" in ex["reasoning"]
    assert hooks.reasoning({"instruction": "q", "output": "SELECT 1;"}) is None
    assert hooks.extra_validation(ex) is None
    assert hooks.extra_validation({"output": "DROP TABLE x;"})


def test_dataset_prepare_on_the_example(tmp_path, gen):
    import shutil

    from expertkit.data.pipeline import load_hooks, prepare

    work = tmp_path / "expert-sql"
    shutil.copytree(EXPERT, work, ignore=shutil.ignore_patterns("datasets", "weights", "__pycache__"))
    assert gen.main(["--out", str(work), "--count", "1200", "--heldout-count", "10"]) == 0
    result = prepare(work / "manifest.json", hooks=load_hooks(work / "preprocess.py"))
    assert result.written == 1200
    first = json.loads((work / "datasets" / "train.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["messages"][0]["content"].startswith("Dialect: sqlite\nSchema:\n")
    assert abs(result.reasoning.achieved_ratio - 0.75) < 0.02 or result.reasoning.achieved_ratio == pytest.approx(
        json.loads((work / "manifest.json").read_text())["training"]["dataset"]["reasoning_ratio"], abs=0.02)


# ---------------------------------------------------------------- the hand-written evaluation set

HANDWRITTEN = EXPERT / "tests" / "handwritten_cases.json"


@pytest.fixture(scope="module")
def handwritten():
    return json.loads(HANDWRITTEN.read_text(encoding="utf-8"))["test_cases"]


def _tables(system: str) -> set[str]:
    return set(re.findall(r"^([a-z_][a-z0-9_]*)\(", system, re.M))


def test_handwritten_cases_cover_the_claimed_shapes(handwritten):
    assert len(handwritten) >= 100
    assert len({c["system"] for c in handwritten}) >= 10
    assert {c["category"] for c in handwritten} == {"basic", "edge", "hard"}
    assert len({c["id"] for c in handwritten}) == len(handwritten)
    sqls = [c["expected_output"] for c in handwritten]
    for clause in (" HAVING ", " IN (", " BETWEEN ", " LIKE ", "SELECT DISTINCT ", " LIMIT ", " JOIN ", " GROUP BY ", "COUNT(*)", "SUM(", "AVG("):
        assert sum(clause in s for s in sqls) >= 3, clause
    joins = sum(" JOIN " in s for s in sqls)
    two_table_single = sum(" JOIN " not in s and len(_tables(c["system"])) == 2 for c, s in zip(handwritten, sqls, strict=True))
    assert joins >= 15 and two_table_single >= 25  # joins only where two tables are needed, and plenty of questions where not
    assert {c["kind"] for c in handwritten} >= {"value_without_column", "terse", "how_much", "imperative", "question", "count", "single_value"}


def test_handwritten_expected_sql_runs_and_is_not_trivial(handwritten):
    from expertkit.evaluation.sql_exec import compare_sql, run_query

    for c in handwritten:
        assert c["match"] == "sql_exec" and c["expected_output"].endswith(";"), c["id"]
        assert set(re.findall(r"CREATE TABLE (\w+)", c["setup"])) == _tables(c["system"]), c["id"]
        rows = run_query(c["setup"], c["expected_output"])
        assert rows and all(any(v is not None for v in r) for r in rows), f"{c['id']}: no rows"
        table = c["expected_output"].split(" FROM ")[1].split()[0].rstrip(";")
        assert not compare_sql(f"SELECT * FROM {table};", c["expected_output"], c["setup"]).passed, c["id"]
        if " WHERE " in c["expected_output"]:  # the filter matters: dropping it changes the answer
            unfiltered = re.sub(r" WHERE .*?(?= GROUP BY| ORDER BY| LIMIT|;)", "", c["expected_output"])
            assert not compare_sql(unfiltered, c["expected_output"], c["setup"]).passed, c["id"]


def test_handwritten_expected_sql_fits_the_grammar_with_slots(handwritten):
    """Every expected answer is reachable under the expert's own grammar, filled from the case's prompt."""
    from expertkit.manifest.loader import load_manifest
    from expertkit.runtime.grammar import compile_for_text, text_matches_grammar
    from expertkit.runtime.grammar_slots import fill_slots
    from expertkit.runtime.settings import settings_from_manifest

    settings = settings_from_manifest(load_manifest(EXPERT / "manifest.json"))
    grammar = (EXPERT / "grammar.gbnf").read_text(encoding="utf-8")
    for c in handwritten:
        messages = [{"role": "system", "content": c["system"]}, {"role": "user", "content": c["input"]}]
        filled = compile_for_text(fill_slots(grammar, settings.grammar_slots, messages))
        assert text_matches_grammar(filled, c["expected_output"]), c["id"]


def test_handwritten_cases_stay_out_of_every_training_path(handwritten, gen, schemas, train_examples):
    hand_tables = {t for c in handwritten for t in _tables(c["system"])}
    trained_tables = {t.name for s in gen.ALL_SCHEMAS.values() for t in s.tables}
    assert not hand_tables & trained_tables, "a hand-written schema's table is in the generator's schemas"
    questions = {c["input"].lower() for c in handwritten}
    systems = {c["system"] for c in handwritten}
    heldout = gen.generate(schemas.HELDOUT_SCHEMAS, 200, 8)
    for e in train_examples + heldout:
        assert e["instruction"].lower() not in questions and e["input"] not in systems
        assert not _tables(e["input"]) & hand_tables
    # nothing that builds training data reads the file, and the manifest's data paths don't name it
    for source in (*SCRIPTS.glob("*.py"), EXPERT / "preprocess.py"):
        assert "handwritten" not in source.read_text(encoding="utf-8"), source.name
    dataset = json.loads((EXPERT / "manifest.json").read_text(encoding="utf-8"))["training"]["dataset"]
    assert not any("handwritten" in str(v) for v in dataset.values())
    assert not (EXPERT / "datasets").exists() or not any("handwritten" in p.name for p in (EXPERT / "datasets").rglob("*"))
