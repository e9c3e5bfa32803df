"""The OpenAI chat-completions request shape (as vLLM's `entrypoints/openai/protocol.py` models it)
and the response/chunk dicts we send back.

Fields we accept but can't honour are refused by name (`unsupported`), never silently dropped.
Extensions ride in the request body the way other servers take them: ``grammar`` (GBNF, as
llama.cpp's server), ``chat_template_kwargs`` (vLLM), and ``use_grammar`` (false turns the
expert's manifest grammar off).
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")  # name, tool_call_id...: metadata that changes no token

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """Content as text; a list of parts must be text parts (no images on this server)."""
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        kinds = {part.get("type") for part in self.content}
        if kinds - {"text"}:
            raise ValueError(f"content parts of type {sorted(k for k in kinds - {'text'} if k)} are not supported (text only)")
        return "".join(str(part.get("text", "")) for part in self.content)


class JsonSchemaFormat(BaseModel):
    name: str = "response"
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class StreamOptions(BaseModel):
    include_usage: bool | None = False
    continuous_usage_stats: bool | None = False


class ChatCompletionRequest(BaseModel):
    # unknown fields are a 400 naming them: a parameter we don't know must not be silently dropped
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    min_p: float | None = Field(default=None, ge=0, lt=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int | None = Field(default=1, ge=1)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    grammar: str | None = None
    use_grammar: bool | None = None
    chat_template_kwargs: dict[str, Any] | None = None
    user: str | None = None
    # accepted at their neutral value only (see `unsupported`)
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    logit_bias: dict[str, float] | None = None
    tools: list[Any] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None

    def unsupported(self) -> tuple[str, str] | None:
        """(parameter, why) for the first field set to something this server can't do."""
        for name in ("frequency_penalty", "presence_penalty"):
            if getattr(self, name):
                return name, f"{name} is not supported (only 0)"
        if self.logprobs or self.top_logprobs:
            return "logprobs", "logprobs are not supported"
        if self.logit_bias:
            return "logit_bias", "logit_bias is not supported"
        if self.tools or self.tool_choice not in (None, "none"):
            return "tools", "tool calling is not supported; use response_format or grammar for structured output"
        kwargs = self.chat_template_kwargs or {}
        if set(kwargs) - {"enable_thinking"}:
            return "chat_template_kwargs", f"unknown chat_template_kwargs {sorted(set(kwargs) - {'enable_thinking'})} (only enable_thinking)"
        if "enable_thinking" in kwargs and not isinstance(kwargs["enable_thinking"], bool):
            return "chat_template_kwargs", "chat_template_kwargs.enable_thinking must be true or false"
        if self.grammar is not None and self.response_format is not None and self.response_format.type != "text":
            return "grammar", "give either grammar or response_format, not both"
        fmt = self.response_format
        if fmt is not None and fmt.type == "json_schema" and (fmt.json_schema is None or fmt.json_schema.schema_ is None):
            return "response_format", "response_format json_schema needs json_schema.schema"
        return None

    def messages_dicts(self) -> list[dict[str, str]]:
        out = []
        for msg in self.messages:
            role = "system" if msg.role == "developer" else msg.role  # OpenAI's newer name for system
            out.append({"role": role, "content": msg.text()})
        return out


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def finish_reason(engine_reason: str) -> str:
    """OpenAI's vocabulary: a stop token or a stop string is "stop", the token budget "length"."""
    return "length" if engine_reason == "length" else "stop"


def choice(index: int, answer: str, reasoning: str | None, reason: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer, "reasoning_content": reasoning}
    return {"index": index, "message": message, "logprobs": None, "finish_reason": finish_reason(reason)}


def completion(cid: str, model: str, choices: list[dict[str, Any]], use: dict[str, int], extra: dict[str, Any]) -> dict[str, Any]:
    return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": choices, "usage": use, "expertkit": extra}


def chunk(cid: str, model: str, created: int, delta: dict[str, Any] | None, reason: str | None = None,
          use: dict[str, int] | None = None, extra: dict[str, Any] | None = None, index: int = 0) -> dict[str, Any]:
    """One `chat.completion.chunk` for choice ``index``; ``delta`` None is the usage-only closing chunk (no choices)."""
    choices = [] if delta is None else [{"index": index, "delta": delta, "logprobs": None,
                                         "finish_reason": None if reason is None else finish_reason(reason)}]
    out: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": choices}
    if use is not None:
        out["usage"] = use
    if extra is not None:
        out["expertkit"] = extra
    return out
