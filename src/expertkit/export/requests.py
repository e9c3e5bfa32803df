"""What a request to another engine must carry so an exported expert answers as ours does:
the chat template it was trained with, its decoding settings, and its grammar as vLLM's
``structured_outputs`` (vLLM compiles it with xgrammar, the same GBNF engine we use).

Our runtime runs the grammar *after* the think block (``runtime/constrained.py``); an engine
with one grammar per request needs the think block inside the grammar, so the expert's root
rule is renamed and wrapped: ``root ::= "<think>" <reasoning> "\\n\\n" <answer>`` (required
when the manifest turns thinking on, optional when it leaves it to the model).
"""

from __future__ import annotations

import re
from typing import Any

from expertkit.data.chat_format import IM_END, IM_START, THINK_CLOSE, THINK_OPEN
from expertkit.runtime.grammar import parse_grammar, read_grammar
from expertkit.runtime.prompts import EMPTY_THINK, OPEN_THINK, THINK_SEPARATOR

ANSWER_RULE = "expertkit-answer"
FREE_THINK_RULE = "expertkit-think"
# our prompts byte for byte (data/chat_format.py + runtime/prompts.py prefill): no default
# system message, and the thinking switch as `chat_template_kwargs.enable_thinking`
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '" + IM_START + "' + message['role'] + '\\n' + message['content'] + '"
    + IM_END + "\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '" + IM_START + "assistant\\n' }}"
    "{% if enable_thinking is defined and enable_thinking is not none %}"
    "{% if enable_thinking %}{{ '" + OPEN_THINK.replace("\n", "\\n") + "' }}"
    "{% else %}{{ '" + EMPTY_THINK.replace("\n", "\\n") + "' }}{% endif %}{% endif %}{% endif %}"
)
_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|\[(?:\\.|[^\]\\])*\]|#[^\n]*|[A-Za-z_][A-Za-z0-9_-]*|.', re.S)


def rename_rule(grammar: str, old: str, new: str) -> str:
    """``grammar`` with rule ``old`` renamed (definition and uses), literals and comments untouched."""
    return "".join(new if tok == old else tok for tok in _TOKEN.findall(grammar))


def engine_grammar(grammar: str, *, thinking: bool | None, reasoning_rule: str | None) -> str:
    """The expert's grammar for an engine that applies one grammar to the whole output."""
    if thinking is False:
        return grammar  # the chat template pre-fills the empty think block, as our prompts do
    body = rename_rule(grammar, "root", ANSWER_RULE)
    think = reasoning_rule or FREE_THINK_RULE
    block = f'"{THINK_OPEN}" {think} "{_gbnf(THINK_SEPARATOR)}"'
    head = f"root ::= {block} {ANSWER_RULE}" if thinking else f"root ::= ({block})? {ANSWER_RULE}"
    extra = "" if reasoning_rule else f'\n{FREE_THINK_RULE} ::= ([^<] | "<" [^/])* "{THINK_CLOSE}"'
    return f"{head}{extra}\n{body}"


def _gbnf(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def request_snippet(source: Any, lora_name: str) -> dict[str, Any]:
    """The body of a chat request naming the exported LoRA, with its grammar and decoding."""
    from expertkit.runtime.settings import settings_from_manifest

    settings = settings_from_manifest(source.loaded)
    body: dict[str, Any] = {"model": lora_name, "messages": _messages(source), "max_tokens": settings.max_new_tokens,
                            "temperature": settings.temperature, "top_p": settings.top_p}
    if settings.stop_sequences:
        body["stop"] = list(settings.stop_sequences)
    extra: dict[str, Any] = {k: v for k, v in (("top_k", settings.top_k), ("min_p", settings.min_p)) if v}
    notes: list[str] = []
    grammar_file = source.grammar_file
    use_grammar = settings.use_grammar and grammar_file is not None
    if settings.use_grammar and grammar_file is None:
        notes.append("the manifest asks for a grammar but none was found; the request is unconstrained")
    thinking = settings.enable_thinking
    kwargs_thinking = thinking if (thinking is False or not use_grammar) else None  # True + grammar: the grammar opens <think>
    if kwargs_thinking is not None:
        extra["chat_template_kwargs"] = {"enable_thinking": kwargs_thinking}
    if use_grammar:
        grammar = engine_grammar(read_grammar(grammar_file), thinking=thinking, reasoning_rule=settings.reasoning_rule)
        parse_grammar(grammar, f"{grammar_file} (wrapped for vLLM)")  # it must compile as vLLM's xgrammar will
        extra["structured_outputs"] = {"grammar": grammar}
        if settings.grammar_slots:
            notes.append("grammar_slots (" + ", ".join(s.rule for s in settings.grammar_slots) + ") are filled per request "
                         "by expertkit's runtime only; here their fallback definitions apply")
    body["extra_body"] = extra
    return {"request": body, "legacy_extra_body": _legacy(extra), "notes": notes,
            "response_format": None}  # GBNF has no OpenAI response_format; JSON-schema experts would set it


def _messages(source: Any) -> list[dict[str, str]]:
    system = source.loaded.model.training.dataset.system_prompt
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": "..."}]


def _legacy(extra: dict[str, Any]) -> dict[str, Any]:
    """The same for vLLM before 0.10.2, which took ``guided_grammar`` instead of ``structured_outputs``."""
    out = {k: v for k, v in extra.items() if k != "structured_outputs"}
    if "structured_outputs" in extra:
        out["guided_grammar"] = extra["structured_outputs"]["grammar"]
    return out
