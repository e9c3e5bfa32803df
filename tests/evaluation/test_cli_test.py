"""`expert-cli test` end to end on the tiny model with a real LoRA adapter (no mocks)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from expertkit.manifest.model import model_slug
from tests.runtime.expert_factory import case, make_expert, write_cases

ALWAYS = r"(?s).*"
PROMPT = "list the users"


@pytest.fixture(scope="module")
def answers(tiny_engine) -> dict[str, str]:
    """The greedy answers of the expert and of the base model for PROMPT (the expert dirs below use the same settings)."""
    expert = tiny_engine.generate([PROMPT])[0].answer
    base = tiny_engine.generate([PROMPT], experts=[])[0].answer
    assert expert != base
    return {"expert": expert, "base": base}


@pytest.fixture
def expert(tmp_path, tiny_llama_dir, tiny_adapter, answers) -> Path:
    cases = [case("expert_wins", answers["expert"]), case("anything", ALWAYS, match="regex", category="hard")]
    return make_expert(tmp_path / "expert-demo", tiny_llama_dir, tiny_adapter, cases=cases)


def run(cli, expert: Path, *args):
    return cli("test", "--manifest", expert / "manifest.json", *args, cwd=expert)


def test_all_pass_exit_0_and_manifest_update_preserves(cli, expert):
    before = json.loads((expert / "manifest.json").read_text())
    res = run(cli, expert, "--update-manifest")
    assert res.exit_code == 0, res
    assert "2/2 passed" in res.stdout
    after = json.loads((expert / "manifest.json").read_text())
    assert list(after)[: len(before)] == list(before)  # key order kept, new sections appended
    assert after["x_unknown_section"] == {"keep": [1, 2, 3]} and after["_comment"] == before["_comment"]
    q = after["quality_metrics"]
    assert (q["benchmark_score"], q["test_queries"], q["base_model_score"]) == (10.0, 2, None)
    assert q["checkpoint"] == f"weights/{model_slug(before['base_models'][0]['name'])}/final"
    perf = after["perf"]
    assert isinstance(perf["latency_ms_overhead"], float) and perf["vram_mb_overhead"] > 0
    assert perf["supported_batch_sizes"] == [1, 2]  # the perf probe (1) and the two cases together (2)


def test_a_failing_case_exits_1(cli, expert, answers):
    write_cases(expert, [case("expert_wins", answers["expert"]), case("wrong", "definitely not this")])
    res = run(cli, expert, "--update-manifest")
    assert res.exit_code == 1, res
    assert "1 of 2 test case(s) failed" in res.stderr and "Traceback" not in res.output
    assert json.loads((expert / "manifest.json").read_text())["quality_metrics"]["benchmark_score"] == 5.0


def test_compare_base(cli, expert):
    res = run(cli, expert, "--compare-base", "--update-manifest", "--json")
    assert res.exit_code == 0, res
    payload = json.loads(res.stdout)
    q = payload["quality_metrics"]
    assert (q["benchmark_score"], q["base_model_score"], q["improvement_percent"], q["win_rate_vs_base"]) == (10.0, 5.0, 100.0, 0.75)
    assert payload["beats_base"] and payload["margin"] == 5.0
    assert [r["passed"] for r in payload["base"]] == [False, True]
    saved = json.loads((expert / "manifest.json").read_text())["quality_metrics"]
    assert saved["base_model_score"] == 5.0


def test_compare_base_needs_the_margin(cli, expert):
    manifest = json.loads((expert / "manifest.json").read_text())
    manifest["evaluation"] = {"min_improvement": 6.0}
    (expert / "manifest.json").write_text(json.dumps(manifest))
    res = run(cli, expert, "--compare-base")
    assert res.exit_code == 1, res
    assert "does not exceed evaluation.min_improvement 6.0" in res.stderr


def test_category_selects(cli, expert):
    res = run(cli, expert, "--category", "hard", "--json")
    assert res.exit_code == 0, res
    assert [r["id"] for r in json.loads(res.stdout)["expert"]] == ["anything"]
    res = run(cli, expert, "--category", "bogus")
    assert res.exit_code == 2 and "unknown category" in res.stderr


def test_report_escapes_and_embeds_the_loss_curve(cli, expert, answers):
    write_cases(expert, [case("expert_wins", answers["expert"]),
                         case("xss", "<b>not this</b>", input="<script>alert(1)</script> & co")])
    run_dir = next((expert / "weights").iterdir())
    (run_dir / "training_summary.json").write_text(json.dumps(
        {"steps": 12, "train_loss_history": [{"step": s, "loss": 3.0 / s} for s in range(1, 13)], "eval_loss_history": []}))
    res = run(cli, expert, "--compare-base", "--report", expert / "out" / "report.html")
    assert res.exit_code == 0, res  # expert 5.0 vs base 0.0
    page = (expert / "out" / "report.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page and "<script>" not in page
    assert "&lt;b&gt;not this&lt;/b&gt;" in page
    assert "data:image/png;base64," in page and "base output" in page
    md = (expert / "out" / "report.md").read_text()
    assert "report.loss.png" in md and (expert / "out" / "report.loss.png").is_file()
    assert "&lt;script&gt;" in md and "| xss |" in md
    assert "training_steps | 12" in md


BAD_INPUTS = [
    # (cases, fragment of the one-line error)
    ([{"id": "bad_1", "input": "q", "category": "basic"}], "case 'bad_1': missing `expected_output`"),
    ([case("bad_1", "x", category="expert-level")], "case 'bad_1': unknown category 'expert-level'"),
    ([case("bad_1", "SELECT (", match="regex")], "case 'bad_1': invalid regex"),
    ([case("bad_1", "SELECT 1", match="sql_exec", setup="CREATE TABLE (")], "case 'bad_1': broken sql_exec setup"),
    ([case("bad_1", "a", match="grammar", grammar='root ::= "a"\nb ::= (\n')], "case 'bad_1': grammar:3:1: grammar does not compile"),
    ([case("bad_1", "x", match="fuzzy")], "case 'bad_1': unknown match 'fuzzy'"),
    ([case("ok", "x"), case("ok", "y")], "case 'ok': duplicate id"),
    ([], "no test cases"),
]


@pytest.mark.parametrize(("cases", "message"), BAD_INPUTS, ids=[m.split(":")[-1].strip()[:30] for _, m in BAD_INPUTS])
def test_bad_cases_exit_2_naming_the_case(cli, expert, cases, message):
    write_cases(expert, cases)
    res = run(cli, expert)
    assert res.exit_code == 2, res
    assert message in res.stderr
    assert "Traceback" not in res.output and len(res.stderr.strip().splitlines()) <= 2  # one line (+ hint)


def test_missing_cases_file_and_bad_flags(cli, expert, tmp_path):
    res = run(cli, expert, "--cases", tmp_path / "none.json")
    assert res.exit_code == 2 and "test cases file not found" in res.stderr and "Traceback" not in res.output
    res = run(cli, expert, "--checkpoints", expert / "weights", "--adapter", expert / "weights")
    assert res.exit_code == 2 and "can't be combined" in res.stderr
    res = run(cli, expert, "--adapter", tmp_path / "missing")
    assert res.exit_code == 2 and "not found" in res.stderr


def test_grammar_file_that_does_not_compile(cli, expert):
    (expert / "grammar.gbnf").write_text('root ::= "SELECT" (\n')
    manifest = json.loads((expert / "manifest.json").read_text())
    manifest["training"]["decoding"]["use_grammar"] = True
    (expert / "manifest.json").write_text(json.dumps(manifest))
    write_cases(expert, [case("anything", ALWAYS, match="regex")])
    res = run(cli, expert)
    assert res.exit_code == 2, res
    assert "grammar.gbnf:2:1: grammar does not compile" in res.stderr and "Traceback" not in res.output


def test_checkpoints_pick_the_best_then_become_the_default(cli, expert, tiny_llama_dir):
    from expertkit.runtime.engine import InferenceEngine
    from tests.runtime.expert_factory import make_lora

    run_dir = next((expert / "weights").iterdir())
    early, late = run_dir / "checkpoint-2", run_dir / "checkpoint-4"
    make_lora(tiny_llama_dir, early, seed=11)
    make_lora(tiny_llama_dir, late, seed=1)  # the same weights as final/
    (late / "trainer_state.json").write_text(json.dumps({"global_step": 4}))
    with InferenceEngine.from_manifest(expert / "manifest.json", early) as engine:
        assert engine.pool.get("expert-demo").param_bytes > 0 and isinstance(engine.generate([PROMPT])[0].answer, str)
    res = run(cli, expert, "--checkpoints", run_dir, "--update-manifest")
    assert res.exit_code == 0, res
    assert "best: weights/" in res.stdout and "checkpoint-4" in res.stdout
    training = json.loads((expert / "manifest.json").read_text())["training"]
    rel = f"weights/{run_dir.name}"
    assert training["packaging_checkpoint"] == f"{rel}/checkpoint-4"
    assert [(c["path"], c["step"], c["benchmark_score"]) for c in training["alternative_checkpoints"]] == [
        (f"{rel}/checkpoint-2", 2, 5.0), (f"{rel}/checkpoint-4", 4, 10.0)]
    res = run(cli, expert, "--json")  # no --adapter: the packaging checkpoint
    assert res.exit_code == 0 and json.loads(res.stdout)["quality_metrics"]["checkpoint"] == f"{rel}/checkpoint-4"
    assert json.loads(res.stdout)["quality_metrics"]["training_steps"] == 4


def test_checkpoint_ties_go_to_the_earlier_step():
    from expertkit.evaluation.checkpoints import CheckpointResult, best_checkpoint

    results = [CheckpointResult(f"c-{s}", s, score, 1, 2, "") for s, score in [(6, 5.0), (2, 5.0), (4, 5.0), (8, 2.0)]]
    assert best_checkpoint(results).step == 2
    results.append(CheckpointResult("c-10", 10, 7.5, 3, 4, ""))
    assert best_checkpoint(results).step == 10


def test_packaged_expert(cli, expert, tmp_path):
    from expertkit.packaging.build import build_package

    run_dir = next((expert / "weights").iterdir())
    package = build_package(expert / "manifest.json", weights=run_dir / "final", output=tmp_path / "expert-demo.v0.1.0.expert").path
    res = run(cli, expert, "--adapter", package, "--json")
    assert res.exit_code == 0, res
    assert json.loads(res.stdout)["quality_metrics"]["checkpoint"].endswith("expert-demo.v0.1.0.expert")


def test_grammar_flag_constrains_answers(cli, expert):
    (expert / "grammar.gbnf").write_text('root ::= "SELECT " [a-z]{1,4} " FROM " ("users" | "orders") ";"\n')
    manifest = json.loads((expert / "manifest.json").read_text())
    manifest["training"]["decoding"]["enable_thinking"] = False
    (expert / "manifest.json").write_text(json.dumps(manifest))
    write_cases(expert, [case("parses", "SELECT a FROM users;", match="grammar"),
                         case("parses_too", "SELECT b FROM orders;", match="grammar", input="how many orders?")])
    assert run(cli, expert).exit_code == 1  # unconstrained, the random model rambles
    res = run(cli, expert, "--grammar", "--max-new-tokens", "40", "--json")
    assert res.exit_code == 0, res
    assert all(r["output"].startswith("SELECT ") for r in json.loads(res.stdout)["expert"])


def test_base_model_answers_directly_when_the_expert_thinks():
    from expertkit.evaluation.runner import base_overrides
    from expertkit.runtime.settings import DecodingSettings

    assert base_overrides(DecodingSettings(enable_thinking=True)) == {"enable_thinking": False}
    assert base_overrides(DecodingSettings(enable_thinking=None)) == {}
    assert base_overrides(DecodingSettings(enable_thinking=False)) == {}


def test_overlap_with_the_training_data_is_reported_and_recorded(cli, expert):
    res = run(cli, expert, "--json")
    out = json.loads(res.stdout)
    assert out["overlap"] is None and out["quality_metrics"]["test_train_overlap"] is None
    assert any("overlap not measured" in w for w in out["warnings"])
    train = expert / "datasets" / "train.jsonl"
    train.parent.mkdir(exist_ok=True)
    turns = [PROMPT.capitalize() + ".", "Show every order of 2024."]
    train.write_text("".join(json.dumps({"messages": [{"role": "user", "content": t}, {"role": "assistant", "content": "x"}]}) + "\n"
                             for t in turns), encoding="utf-8")
    res = run(cli, expert, "--update-manifest")
    assert res.exit_code == 0, res
    assert "have a near twin in the training data" in res.stderr and "train overlap" in res.stdout  # warnings: stderr
    assert "test/train overlap all: 100% of 2 with a near twin" in res.stdout
    recorded = json.loads((expert / "manifest.json").read_text())["quality_metrics"]["test_train_overlap"]
    assert recorded["near_twin_share"] == 1.0 and recorded["training_examples"] == 2
    assert set(recorded["by_category"]) == {"basic", "hard"}
    out = json.loads(run(cli, expert, "--json").stdout)
    assert [c["template_count"] for c in out["overlap"]["cases"]] == [1, 1]


def test_the_hf_backend_gives_the_same_results(cli, expert):
    fast = run(cli, expert, "--compare-base", "--json")
    ref = run(cli, expert, "--compare-base", "--json", "--backend", "hf")
    assert fast.exit_code == ref.exit_code == 0, (fast, ref)
    rows = [[(r["id"], r["output"], r["passed"]) for r in json.loads(res.stdout)[k]] for res in (fast, ref) for k in ("expert", "base")]
    assert rows[:2] == rows[2:]
