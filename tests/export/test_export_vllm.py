"""`expert-cli export vllm`: adapters vLLM accepts, a launch line that parses and names every
expert, request snippets whose grammar compiles, and one-line refusals (exit 2)."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest
import torch

from expertkit.export import vllm_rules


def _renamed(src: Path, dest: Path, name: str) -> Path:
    shutil.copytree(src, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["name"] = name
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return dest


@pytest.fixture
def three_sources(trained, tmp_path):
    """The same trained LoRA as an expert dir, a .expert package and an installed expert."""
    from expertkit.manifest.model import model_slug
    from expertkit.packaging.build import build_package
    from expertkit.registry.install import Options, install

    lora = trained("lora")
    manifest = json.loads((lora / "manifest.json").read_text())
    final = lambda d: d / "weights" / model_slug(manifest["base_models"][0]["name"]) / "final"  # noqa: E731
    pkg_dir = _renamed(lora, tmp_path / "b", "expert-lora-b")
    package = build_package(pkg_dir / "manifest.json", weights=final(pkg_dir), output=tmp_path / "b.expert").path
    inst_dir = _renamed(lora, tmp_path / "c", "expert-lora-c")
    install(str(build_package(inst_dir / "manifest.json", weights=final(inst_dir), output=tmp_path / "c.expert").path),
            Options(allow_unsigned=True))
    return [str(lora), str(package), "expert-lora-c@0.1.0"], final(lora)


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits


def test_three_kinds_of_source_export_to_adapters_vllm_accepts(cli, three_sources, tiny_llama_dir, tmp_path):
    sources, source_adapter = three_sources
    out = tmp_path / "vllm"
    res = cli("export", "vllm", *sources, "--output", out, "--json")
    assert res.exit_code == 0, res
    payload = json.loads(res.stdout)
    names = ["expert-lora", "expert-lora-b", "expert-lora-c"]
    assert [e["name"] for e in payload["experts"]] == names
    assert "local base model" in res.stderr  # the warning: name what vLLM loads on the GPU machine

    argv = shlex.split(payload["launch"])
    assert argv == payload["argv"] and vllm_rules.check_serve_args(argv) == []
    assert argv[:3] == ["vllm", "serve", str(tiny_llama_dir)]
    assert argv[argv.index("--max-loras") + 1] == "3" and argv[argv.index("--max-lora-rank") + 1] == "8"
    modules = [json.loads(v) for v in argv[argv.index("--lora-modules") + 1:]]
    assert [m["name"] for m in modules] == names
    assert all(m["base_model_name"] == argv[2] and Path(m["path"]).is_dir() for m in modules)
    assert shlex.split((out / "serve.sh").read_text().splitlines()[-1])[1:] == argv  # `exec` + the line

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([[5, 9, 17, 33, 60, 2]])
    want = _logits(PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir)), str(source_adapter)), ids)
    for module in modules:
        adapter = Path(module["path"])
        assert vllm_rules.check_adapter_dir(adapter, "LlamaForCausalLM") == []
        assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == argv[2]
        got = _logits(PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir)), str(adapter)), ids)
        torch.testing.assert_close(got, want)


def test_request_snippet_grammar_compiles_and_template_matches_our_prompts(cli, trained, tiny_llama_dir, tmp_path):
    from transformers import AutoTokenizer

    from expertkit.runtime.grammar import compile_for_text, text_matches_grammar
    from expertkit.runtime.prompts import build_prompt

    out = tmp_path / "vllm"
    assert cli("export", "vllm", trained("lora"), "--output", out, "--base", "org/base-model").exit_code == 0
    snippet = json.loads((out / "requests" / "expert-lora.json").read_text())
    assert snippet["request"]["model"] == "expert-lora" and snippet["request"]["max_tokens"] == 8
    grammar = snippet["request"]["extra_body"]["structured_outputs"]["grammar"]
    assert snippet["legacy_extra_body"]["guided_grammar"] == grammar
    compiled = compile_for_text(grammar)
    # thinking unset: the model may think first, then the expert's own grammar holds the answer
    assert text_matches_grammar(compiled, "SELECT ab FROM users;")
    assert text_matches_grammar(compiled, "<think>\nlook up users\n</think>\n\nSELECT ab FROM users;")
    assert not text_matches_grammar(compiled, "DELETE FROM users;")
    argv = json.loads((out / "export.json").read_text())["argv"]
    assert argv[2] == "org/base-model"

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_llama_dir))
    tokenizer.chat_template = (out / "chat_template.jinja").read_text()
    messages = [{"role": "system", "content": "Dialect: sqlite"}, {"role": "user", "content": "how many users?"}]
    for thinking in (None, True, False):
        kwargs = {} if thinking is None else {"enable_thinking": thinking}
        rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **kwargs)
        assert rendered == build_prompt(messages, thinking)


def test_wrapped_grammar_follows_the_thinking_switch():
    from expertkit.export.requests import engine_grammar, rename_rule
    from expertkit.runtime.grammar import compile_for_text, text_matches_grammar

    answer = 'root ::= "A" tail\ntail ::= "root" | "#"  # root stays in strings and comments\nwhy ::= "\\nok\\n</think>"\n'
    assert rename_rule(answer, "root", "x").startswith('x ::= "A" tail\ntail ::= "root"')
    on = compile_for_text(engine_grammar(answer, thinking=True, reasoning_rule="why"))
    assert text_matches_grammar(on, "<think>\nok\n</think>\n\nAroot")
    assert not text_matches_grammar(on, "Aroot")  # thinking on: the think block is required
    off = compile_for_text(engine_grammar(answer, thinking=False, reasoning_rule="why"))
    assert text_matches_grammar(off, "A#")  # the chat template pre-fills the empty think block


def test_refusals_are_one_line_and_exit_2(cli, trained, tmp_path):
    out = tmp_path / "vllm"
    res = cli("export", "vllm", trained("lora"), trained("dora"), trained("ia3"), "--output", out)
    assert res.exit_code == 2
    first = res.stderr.splitlines()[0]
    assert "expert-dora (use_dora: DoRA: vLLM does not yet support DoRA)" in first and "expert-ia3 (peft_type: IA3" in first
    assert "expert-lora " not in first and "export merged" in res.stderr
    assert not out.exists()  # nothing written when any expert is refused

    res = cli("export", "vllm", "expert-nope", "--output", out)
    assert res.exit_code == 2 and res.stderr.startswith("error: expert-nope is not installed")
    res = cli("export", "vllm", "expert-nope@", "--output", out)
    assert res.exit_code == 2 and "version after @ is empty" in res.stderr

    out.mkdir()
    (out / "keep.txt").write_text("mine")
    res = cli("export", "vllm", trained("lora"), "--output", out)
    assert res.exit_code == 2 and "exists and is not empty" in res.stderr.splitlines()[0]
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    res = cli("export", "vllm", trained("lora"), trained("lora"), "--output", tmp_path / "twice", "--json")
    assert res.exit_code == 2 and "named twice" in json.loads(res.stdout)["error"]["message"]


def test_the_shipped_sql_grammar_wraps_for_one_grammar_engines():
    """examples/expert-sql thinks first (enable_thinking, reasoning_rule): the wrapped grammar
    holds both its plan and its query, as our runtime's two matchers do."""
    from expertkit.export.requests import engine_grammar
    from expertkit.runtime.grammar import compile_for_text, text_matches_grammar
    from tests.conftest import REPO_ROOT

    grammar = (REPO_ROOT / "examples" / "expert-sql" / "grammar.gbnf").read_text()
    compiled = compile_for_text(engine_grammar(grammar, thinking=True, reasoning_rule="reasoning"))
    plan = "<think>\nMentioned? users: yes. Table: users. Return name.\n</think>\n\n"
    assert text_matches_grammar(compiled, plan + "SELECT name FROM users;")
    assert not text_matches_grammar(compiled, "SELECT name FROM users;")
    assert not text_matches_grammar(compiled, plan + "DROP TABLE users;")


def test_path_prefix_names_where_the_export_lives_on_the_serving_machine(cli, trained, tmp_path):
    res = cli("export", "vllm", trained("lora"), "--output", tmp_path / "v", "--base", "org/m",
              "--path-prefix", "/srv/experts/", "--json")
    argv = json.loads(res.stdout)["argv"]
    assert argv[argv.index("--chat-template") + 1] == "/srv/experts/chat_template.jinja"
    assert json.loads(argv[-1]) == {"name": "expert-lora", "path": "/srv/experts/adapters/expert-lora", "base_model_name": "org/m"}
    assert res.stderr == ""  # --base given: no warning about the local path
