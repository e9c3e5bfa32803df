"""The benchmark scripts run end to end on the tiny model (their figures are only meaningful on the real one).

Why: a refactor of the grammar processor once broke bench/grammar_overhead.py without any test
noticing; a bench that can't run measures nothing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their string annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_grammar_overhead_runs(tiny_llama_dir, capsys):
    bench = _load("grammar_overhead")
    assert bench.main(["--model-dir", str(tiny_llama_dir), "--tokens", "4", "--repeats", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "ratio grammar/free:" in out and "grammar processor alone" in out


def test_adapter_overhead_runs(tiny_llama_dir, capsys):
    bench = _load("adapter_overhead")
    assert bench.main(["--model-dir", str(tiny_llama_dir), "--tokens", "4", "--repeats", "1", "--threads", "1"]) == 0
    assert "ratio" in capsys.readouterr().out


def test_train_throughput_runs(tiny_llama_dir):
    args = ["--model-dir", str(tiny_llama_dir), "--steps", "2", "--warmup", "1", "--batch-size", "2",
            "--max-seq-length", "512", "--examples", "24", "--methods", "lora"]
    done = subprocess.run([sys.executable, str(BENCH / "train_throughput.py"), *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ratio" in done.stdout, done.stdout


def test_runtime_bench_prints_every_key(tiny_llama_dir, tmp_path, expert_home, capsys):
    import json

    from tests.runtime.expert_factory import case, make_expert, make_lora

    adapter = make_lora(tiny_llama_dir, tmp_path / "lora", seed=3)
    expert = make_expert(tmp_path / "expert", tiny_llama_dir, adapter, cases=[case("a", "x"), case("b", "y", category="edge")])
    bench = _load("runtime")
    assert bench.main(["--model-dir", str(tiny_llama_dir), "--tokens", "4", "--batch-tokens", "3", "--repeats", "1",
                       "--threads", "1", "--rank", "4", "--json", "--suite-manifest", str(expert / "manifest.json"),
                       "--suite-cases", str(expert / "tests" / "test_cases.json"), "--train-s", "100"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"cold_attach_ms", "hot_swap_ms_median", "hot_swap_ms_p99", "token_latency_ratio_expert",
                           "token_latency_ratio_composed2", "mixed_batch_speedup", "base_tokens_per_s",
                           "bandwidth_bound_tokens_per_s", "batch8_step_ms", "batch8_step_bound_ms", "matmul_floor_tokens_per_s",
                           "batch8_matmul_floor_ms", "ram_mb_per_expert",
                           "ram_mb_per_expert_unmerged", "hf_generate_tokens_per_s", "test_suite_s", "test_suite_cases",
                           "test_suite_train_s", "test_suite_vs_training"}
    assert all(isinstance(v, (int, float)) and v > 0 for v in result.values()), result
    assert result["test_suite_cases"] == 2 and result["test_suite_train_s"] == 100


def test_route_runs(tiny_llama_dir, tmp_path, capsys):
    import json

    lines = (BENCH / "data" / "route" / "prompts.jsonl").read_text().splitlines()
    subset = tmp_path / "prompts.jsonl"
    subset.write_text("\n".join(lines[::20]) + "\n")  # every kind, a few of each
    bench = _load("route")
    assert bench.main(["--embedders", str(tiny_llama_dir), "--prompts", str(subset), "--examples", "20", "--repeats", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"accuracy", "abstain_accuracy", "latency_ms_p50", "latency_ms_p99"} <= set(out)
    assert set(out["routers"]) == {"manifest", tiny_llama_dir.name} and out["prompts"] == len(lines[::20])


def test_serve_load_prints_every_key(tiny_llama_dir, capsys):
    import json

    bench = _load("serve_load")
    assert bench.main(["--model-dir", str(tiny_llama_dir), "--clients", "2", "--requests", "1", "--experts", "1",
                       "--rank", "4", "--max-tokens", "2", "--threads", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"clients", "requests", "errors", "p50_ms", "p99_ms", "ttft_p50_ms", "completion_tokens_per_s",
            "speedup_vs_serial"} <= set(result)
    assert result["errors"] == 0 and result["requests"] == 2


def test_compose_bench_measures_each_suite_under_each_chain(tiny_llama_dir, tmp_path, capsys):
    """Two tiny experts named like the examples, each with its own suite and grammar; the table has every chain."""
    import json
    import shutil

    from tests.runtime.expert_factory import case, make_lora, manifest_dict

    adapter = make_lora(tiny_llama_dir, tmp_path / "lora", seed=1)
    dirs = {}
    for name, grammar, decoding, keyword in (
        ("expert-json", 'root ::= "{}"\n', {"grammar_slots": {"root": {"message": "system", "kind": "json_schema"}}}, "boolean"),
        ("expert-sql", 'root ::= "SELECT 1;"\n', {"enable_thinking": False}, "rows"),
    ):
        d = tmp_path / name
        shutil.copytree(adapter, d)
        raw = {**manifest_dict(tiny_llama_dir, use_grammar=True, **decoding), "name": name}
        raw["constraints"] = {"load_order": 6}
        raw["routing"] = {"keywords": [keyword]}  # for the a|b row: the router picks per case
        (d / "manifest.json").write_text(json.dumps(raw))
        (d / "grammar.gbnf").write_text(grammar)
        dirs[name] = d
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    json_cases = tmp_path / "json_cases.json"
    json_cases.write_text(json.dumps({"test_cases": [case(f"j{i}", {"ok": True}, match="json_equal", system="Schema:\n" + json.dumps(schema))
                                                     for i in range(3)]}))
    sql_cases = tmp_path / "sql_cases.json"
    sql_cases.write_text(json.dumps({"test_cases": [case("s1", "SELECT 1;", input="count the rows")]}))
    bench = _load("compose")
    args = ["--json-expert", str(dirs["expert-json"]), "--sql-expert", str(dirs["expert-sql"]), "--json-cases", str(json_cases),
            "--sql-cases", str(sql_cases), "--limit", "2", "--embedder", "none", "--json"]
    assert bench.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["chain"]: r for r in out["rows"]}
    assert list(rows) == bench.DEFAULT_CHAINS and out["cases"] == {"expert-json": 2, "expert-sql": 1}
    assert set(rows["expert-json"]["suites"]) == {"expert-json"} and set(rows["expert-sql+expert-json"]["suites"]) == {"expert-json", "expert-sql"}
    assert rows["expert-sql"]["suites"]["expert-sql"]["accuracy"] == 1.0  # the grammar allows only the right answer
    # equal load_order: the last-named expert decides the decoding, so the other suite runs under a foreign grammar
    assert rows["expert-sql+expert-json"]["decided_by"]["settings"] == "expert-json"
    assert rows["expert-json+expert-sql"]["suites"]["expert-sql"]["accuracy"] == 1.0
    assert rows["expert-sql+expert-json"]["suites"]["expert-sql"]["accuracy"] == 0.0
    assert "| `expert-sql+expert-json` | expert-json |" in out["markdown"]
    # alternatives: each case runs on the expert the router picks, alone, so each suite keeps its own figure
    gated = rows["expert-sql|expert-json"]["suites"]
    assert gated["expert-sql"]["accuracy"] == 1.0 and gated["expert-sql"]["routed"] == {"expert-sql": 1}
    assert gated["expert-json"]["routed"] == {"expert-json": 2}
    assert gated["expert-json"]["accuracy"] == rows["expert-json"]["suites"]["expert-json"]["accuracy"]
    assert "| `expert-sql\\|expert-json` | the chosen one |" in out["markdown"]


def _fake_run(root: Path) -> Path:
    """A training run as `expert-cli train` leaves it: one checkpoint before the final, one at its step."""
    weights = root / "run" / "weights" / "tiny"
    for step, lr in ((2, 0.002), (4, 0.0)):
        ckpt = weights / f"checkpoint-{step}"
        ckpt.mkdir(parents=True)
        log = [{"step": step - 1, "train_runtime": 30.0 * (step - 1)}]
        (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": step, "max_steps": 4, "num_input_tokens_seen": 100 * step,
                                                             "log_history": log}))
        (ckpt / "scheduler.json").write_text(json.dumps({"format": 1, "tree": {"__dict__": [["_last_lr", [lr, lr]]]}}))
    (weights / "final").mkdir()
    (weights / "training_summary.json").write_text(json.dumps({"config": {"training.config": {"rank": 8}}, "final": {"step": 4},
                                                               "max_steps": 4, "tokens_seen": 400, "wall_time_s": 120.0,
                                                               "tokens_per_second": 3.3}))
    (root / "run" / "manifest.json").write_text("{}")
    return root / "run"


def test_learning_curve_tests_each_point_once_and_resumes(tmp_path, capsys):
    """Each (point, suite) is one `expert-cli test`; a second call reuses the saved results (a run cut short resumes)."""
    run = _fake_run(tmp_path)
    calls = tmp_path / "calls.txt"
    cli = tmp_path / "fake-cli"  # answers like `expert-cli test --json`: 3 of 4 pass for final, 1 of 4 before
    cli.write_text(f"#!{sys.executable}\nimport json, sys\nopen({str(calls)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
                   "n = 3 if sys.argv[sys.argv.index('--adapter') + 1].endswith('final') else 1\n"
                   "print(json.dumps({'passed': n, 'total': 4, 'expert': [{'id': f'c{i}', 'passed': i < n} for i in range(4)]}))\n"
                   "sys.exit(1)\n")
    cli.chmod(0o755)
    bench = _load("learning_curve")
    args = [str(run), "--suite", "a=tests/a.json", "--suite", "b=tests/b.json", "--results", str(tmp_path / "curve.json"),
            "--cli", str(cli), "--lock", str(tmp_path / "lock")]
    assert bench.main(args) == 0
    table = capsys.readouterr().out
    assert len(calls.read_text().splitlines()) == 4  # checkpoint-2 and final, two suites; checkpoint-4 is the final
    assert "| run | checkpoint-2 | 2 / 4 (r=8) | 2.0e-03 | 200 | 1.0 min | 3 | 25.0% (1/4) | 25.0% (1/4) |" in table
    assert "| run | final | 4 / 4 (r=8) | end | 400 | 2.0 min | 3 | 75.0% (3/4) | 75.0% (3/4) |" in table
    assert json.loads((tmp_path / "curve.json").read_text())["run/final:a"]["passed_ids"] == ["c0", "c1", "c2"]
    assert bench.main(args) == 0
    assert len(calls.read_text().splitlines()) == 4 and capsys.readouterr().out == table
