"""The manifest model: the one place a manifest field is described.

Field descriptions become the JSON Schema (`expert-cli schema`) and the README's reference,
so each option is documented exactly once. Every section allows extra keys: real manifests
carry `_comment` keys and fields from newer tools, and we keep them (the loader warns about
unknown ones; the rewriter never drops them). Range and cross-field rules with friendly
messages live in `checks.py`; this module only fixes shapes and types.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NAME_PATTERN = r"^expert-[a-z0-9]+(-[a-z0-9]+)*$"
# semver 2.0.0 (https://semver.org), the official regex
SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)

AdapterType = Literal["lora", "dora", "ia3"]
Quantization = Literal["int4", "int8", "fp16", "bf16", "none"]
PromptTemplate = Literal["chatml", "qwen3", "llama2", "alpaca", "vicuna", "custom"]
Number = float | int | str  # metrics in the wild carry strings like "16/18"


class Section(BaseModel):
    """Base for every manifest section: unknown keys are kept, not rejected."""

    # strict: "12" is not a rank and "yes" is not a bool, exactly as the exported JSON Schema says
    model_config = ConfigDict(extra="allow", populate_by_name=True, validate_default=False, strict=True)


class Adapter(Section):
    type: str = Field("lora", description="Adapter method: lora, dora, ia3 (or prompt_tuning for soft prompts).")
    path: str | None = Field(None, description="Adapter directory or file, relative to the manifest.")
    target_modules: list[str] | None = Field(None, description="Module names the adapter was applied to.")
    r: int | None = Field(None, description="LoRA/DoRA rank used to train this adapter.")
    alpha: float | None = Field(None, description="LoRA/DoRA alpha used to train this adapter.")
    dropout: float | None = Field(None, description="Adapter dropout used in training.")
    size_bytes: int | None = Field(None, description="Size of the adapter weights file in bytes.")
    sha256: str | None = Field(None, description="sha256 of the adapter weights file (adapter_model.safetensors).")
    checkpoint_step: int | None = Field(None, description="Training step of the packaged checkpoint.")


class BaseModelSpec(Section):
    name: str = Field(
        description="Base model: a built-in alias (smollm2-135m-instruct), a name given to "
        "`expert-cli models import`, or a local Hugging Face model directory."
    )
    sha256: str | None = Field(
        None,
        description="Digest of the base model weights (see `expert-cli models list --json`); "
        "empty means unchecked.",
    )
    quantization: Quantization | None = Field(
        None, description="Weight quantization at load time; int4/int8 need CUDA (bitsandbytes)."
    )
    rope_scaling: str | dict[str, Any] | None = Field(
        None, description="RoPE scaling: a type name or a transformers rope_scaling object."
    )
    prompt_template: PromptTemplate = Field(
        "chatml", description="Chat format; chatml/qwen3 use <|im_start|>role ... <|im_end|>."
    )
    adapters: list[Adapter] = Field(default_factory=list, description="Trained adapters (filled by `package`).")


class SoftPrompt(Section):
    name: str = Field(description="Soft prompt name.")
    path: str | None = Field(None, description="safetensors file with the prompt embeddings.")
    tokens: int = Field(20, description="Number of virtual tokens.")
    init_method: Literal["text", "random", "vocab_sample"] = Field(
        "random", description="Initialise from text, randomly, or from sampled vocabulary embeddings (vocab_sample)."
    )
    init_text: str | None = Field(None, description="Text whose embeddings initialise the prompt.")
    purpose: str | None = Field(None, description="What the soft prompt is for.")


class Constraints(Section):
    max_chain: int | None = Field(None, description="Most experts that may be chained with this one.")
    load_order: int | None = Field(
        None,
        description="1-10, lower loads first: foundation 1-3, format 4-5, technology 6-7, task 8-10.",
    )
    incompatible_with: list[str] = Field(default_factory=list, description="Experts that can't be loaded together with this one.")
    requires: list[str] = Field(
        default_factory=list, description="Experts this one depends on: `name` or `name@<version spec>` (e.g. expert-json@>=0.2,<1)."
    )


class Limitation(Section):
    pattern: str = Field(description="Short unique id of the limitation.")
    description: str | None = Field(None, description="What doesn't work.")
    example: str | None = Field(None, description="An input that triggers it.")
    workaround: str | None = Field(None, description="How to avoid or fix it.")


class Routing(Section):
    keywords: list[str] = Field(default_factory=list, description="Words that route a prompt to this expert.")
    exclude_keywords: list[str] = Field(default_factory=list, description="Words that keep a prompt away.")
    router_hint: str | None = Field(None, description="Free-text hint for a router.")
    priority: float | None = Field(None, description="Tie-breaker among matching experts (higher wins).")


class SplitRatios(Section):
    train: float = Field(0.8, description="Share of examples in train.jsonl.")
    validation: float = Field(0.1, description="Share of examples in validation.jsonl.")
    test: float = Field(0.1, description="Share of examples in test.jsonl.")


class DatasetValidation(Section):
    min_length: int | None = Field(None, description="Shortest allowed output, in characters.")
    max_length: int | None = Field(None, description="Longest allowed output, in characters.")
    require_json_output: bool = Field(False, description="Outputs must parse as JSON.")
    required_fields: list[str] | None = Field(None, description="Raw fields every example must have (default: from field_mapping).")


class Dataset(Section):
    type: str = Field("single", description="Dataset kind (single).")
    path: str = Field("datasets/train.jsonl", description="Training split, relative to the manifest.")
    validation_path: str | None = Field("datasets/validation.jsonl", description="Validation split.")
    test_path: str | None = Field("datasets/test.jsonl", description="Test split.")
    raw_path: str = Field("datasets/raw", description="Directory of raw files read by `dataset prepare`.")
    field_mapping: dict[str, str] = Field(
        default_factory=dict,
        description="Our role -> raw field: instruction, input, response/output, question, answer, "
        "messages, text, system, reasoning.",
    )
    format: str = Field("jsonl", description="Format of the prepared splits (jsonl).")
    validation: DatasetValidation | None = Field(None, description="Checks applied by `dataset prepare`.")
    split: SplitRatios | None = Field(None, description="Split shares (default 0.8/0.1/0.1).")
    dedup_key: list[str] | None = Field(None, description="Fields that identify a duplicate (default instruction+input+output).")
    reasoning_ratio: float | None = Field(
        None, description="Share of examples given a <think> block (default 0.75 for chatml/qwen3 templates)."
    )
    system_prompt: str | None = Field(None, description="System message used when an example has none.")
    input_role: Literal["system", "user"] = Field(
        "system",
        description="Where an instruction-style record's `input` (context) goes: a line after the system prompt "
        "(as in the guide's preprocess.py), or after the instruction in the user turn.",
    )
    seed: int = Field(42, description="Shuffle seed for `dataset prepare`.")
    preprocessing: dict[str, Any] | None = Field(None, description="Counts written by `dataset prepare`.")


class TrainingConfig(Section):
    method: str = Field("sft", description="Training method (sft).")
    adapter_type: AdapterType = Field("dora", description="dora (recommended), lora or ia3.")
    rank: int | None = Field(None, description="Adapter rank: 12-16 for DoRA, 16-32 for LoRA; not for ia3.")
    alpha: float | None = Field(None, description="Adapter alpha, usually 2 x rank; not for ia3.")
    dropout: float = Field(0.05, description="Adapter dropout.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"],
        description="Module names to adapt (checked against the base model).",
    )
    feedforward_modules: list[str] | None = Field(None, description="ia3 only: which target modules are feed-forward.")
    top_layers: int | None = Field(
        None,
        description="Adapt only the last N transformer layers (lora, dora); the backward pass stops below "
        "them, so each step is cheaper. Unset: every layer.",
    )
    epochs: float = Field(3, description="Passes over the training set (fractional allowed).")
    learning_rate: float = Field(1e-4, description="Peak learning rate.")
    batch_size: int = Field(4, description="Examples (or packed rows) per device step.")
    gradient_accumulation_steps: int = Field(1, description="Steps accumulated per optimizer update.")
    warmup_steps: int | None = Field(None, description="Linear warmup steps; 0 or unset with warmup_ratio set: the ratio is used.")
    warmup_ratio: float | None = Field(None, description="Warmup as a share of total steps (used when warmup_steps is 0 or unset).")
    lr_scheduler: str = Field("cosine", description="transformers scheduler name (linear, cosine, constant, ...).")
    lr_scheduler_kwargs: dict[str, Any] | None = Field(None, description="Extra scheduler arguments (e.g. num_cycles for cosine_with_restarts).")
    save_strategy: Literal["steps", "epoch", "no"] = Field("steps", description="When to save checkpoints.")
    save_steps: int = Field(500, description="Save every N optimizer steps (save_strategy=steps).")
    evaluation_strategy: Literal["steps", "epoch", "no"] = Field("no", description="When to evaluate on the validation split.")
    eval_steps: int | None = Field(None, description="Evaluate every N steps (evaluation_strategy=steps).")
    load_best_model_at_end: bool = Field(False, description="final/ is the best checkpoint by metric_for_best_model.")
    metric_for_best_model: str = Field("eval_loss", description="Metric that picks the best checkpoint.")
    greater_is_better: bool | None = Field(None, description="Whether a higher metric is better (default: not for losses).")
    save_total_limit: int | None = Field(None, description="Most checkpoints kept on disk.")
    logging_steps: int = Field(10, description="Log every N steps.")
    max_seq_length: int = Field(2048, description="Longest tokenized example; longer ones are truncated and counted.")
    max_steps: int | None = Field(None, description="Stop after N optimizer steps (wins over epochs); 0 or unset: use epochs.")
    fp16: bool = Field(False, description="fp16 mixed precision (CUDA only; CPU falls back to fp32 with a warning).")
    bf16: bool = Field(False, description="bf16 mixed precision (CUDA only; CPU falls back to fp32 with a warning).")
    use_unsloth: bool = Field(False, description="Use unsloth when installed on CUDA; otherwise a warning and plain PEFT.")
    gradient_checkpointing: bool | Literal["full", "selective"] = Field(
        False, description="Trade compute for memory: true/\"full\" recompute every layer; \"selective\" is run as full (with a warning)."
    )
    packing: bool = Field(True, description="Padding-free packing of several examples per row.")
    optim: str = Field("adamw_torch", description="transformers optimizer name.")
    seed: int = Field(42, description="Training seed (data order and init).")
    dataloader_num_workers: int = Field(0, description="DataLoader worker processes (0: load in the main process).")
    dataloader_pin_memory: bool = Field(True, description="Pin batches in page-locked memory (CUDA only).")
    dataloader_prefetch_factor: int | None = Field(None, description="Batches each worker loads ahead (needs dataloader_num_workers > 0).")
    dataloader_persistent_workers: bool = Field(False, description="Keep workers alive between epochs (needs dataloader_num_workers > 0).")
    torch_compile: bool = Field(False, description="Compile the model with torch.compile.")
    torch_compile_backend: str | None = Field(None, description="torch.compile backend (e.g. inductor).")
    torch_compile_mode: str | None = Field(None, description="torch.compile mode (e.g. reduce-overhead).")
    use_tf32: bool = Field(False, description="TF32 matmuls (NVIDIA Ampere+; ignored with a warning elsewhere).")
    group_by_length: bool = Field(False, description="Batch examples of similar length together (without packing).")

    @model_validator(mode="before")
    @classmethod
    def _num_epochs_alias(cls, data: Any) -> Any:
        # the reference schema accepts num_epochs as an alias of epochs
        if isinstance(data, dict) and "num_epochs" in data and "epochs" not in data:
            data = {**data, "epochs": data["num_epochs"]}
        return data


RECORD_KEYS = ("name", "members", "qualified")  # what a records slot can bind (runtime/grammar_records.py)
PAIR_KEYS = RECORD_KEYS + ("key", "other_name", "other_members", "other_key")


class GrammarSlotSpec(Section):
    message: Literal["system", "user", "prompt", "reasoning"] = Field(
        description="Where to look: the system message, the last user message, every message, or the model's own think block "
        "(the answer's grammar is then filled again when the think block closes, so the answer follows the plan).")
    pattern: str | None = Field(None, description="Regular expression (multi-line mode); with groups, the first group that matched is the value. "
                                "Required for kind values and the records kinds (group 1 a record's name, group 2 its comma-separated "
                                "members); for json_schema it narrows where the schema is (default: the whole message).")
    kind: Literal["values", "json_schema", "records", "record_pairs"] = Field(
        "values", description="values: the rule becomes the alternation of the matches; json_schema: the rule becomes the grammar "
        "of the JSON Schema the message carries (its first JSON object), so the answer is an object valid under it; records: the "
        "rule becomes one copy per record of the message, in which the rules of `bind` hold that record's values (a table's "
        "columns only with that table); record_pairs: one copy per ordered pair of records where the first refers to the "
        "second (a member `user_id` refers to `users`.`id`), or every pair when none refers to another.")
    bind: dict[str, str] = Field(
        default_factory=dict, description="Records kinds: record key -> grammar rule it fills in each copy. Keys: name, members, "
        "qualified (name.member); record_pairs also key (the referring member), other_name, other_members, other_key.")
    template: str | None = Field(None, description="values: each match is written as this (\\1 = its first group; Python's "
                                 "match.expand) instead of its first group that matched.")
    if_none: Literal["keep", "empty", "nothing"] = Field(
        "keep", description="When the message is there but nothing matches: keep the file's rule, make the rule the empty "
        "string, or make it match nothing (closing the branches that use it).")
    names_from: str | None = Field(None, description="Records kinds: only the records named by this values slot's matches "
                                   "(pairs: both), when its message is there; e.g. the table a think block chose.")
    copy_from: Literal["system", "user", "prompt"] | None = Field(
        None, description="json_schema only: the object's strings may only be sequences of this message's words and its numbers "
        "only numbers the message writes (enums, booleans and null are untouched): an extraction can't invent a value.")


class Decoding(Section):
    use_grammar: bool = Field(False, description="Constrain generation with the grammar file.")
    grammar_file: str | None = Field(None, description="GBNF grammar (default grammar.gbnf beside the manifest).")
    grammar_type: str = Field("gbnf", description="Grammar format (gbnf).")
    stop_sequences: list[str] = Field(default_factory=list, description="Strings that end generation.")
    temperature: float = Field(0.0, description="0 = greedy (deterministic).")
    top_p: float = Field(1.0, description="Nucleus sampling threshold.")
    top_k: int = Field(0, description="Top-k sampling (0 = off).")
    min_p: float = Field(0.0, description="Min-p sampling (0 = off).")
    max_new_tokens: int = Field(256, description="Most tokens generated per answer.")
    grammar_slots: dict[str, GrammarSlotSpec] = Field(
        default_factory=dict,
        description="Grammar rules filled per request from the prompt (schema-aware decoding): rule name -> "
        "{message, pattern, kind, ...}. The rule's definition in the grammar file is replaced by the alternation of the "
        "pattern's matches (or a JSON Schema's grammar, or one copy of the rule per record of a schema), so the answer "
        "can only use names the prompt contains; with no match the file's rule stays. A slot reading `reasoning` is "
        "filled from the model's think block when it closes, so the answer follows the plan.",
    )
    reasoning_rule: str | None = Field(
        None,
        description="A rule of the grammar that the think block must match: the text after `<think>` through "
        "`</think>` (needs use_grammar). Unset: the reasoning is free text; only the answer is constrained.",
    )
    enable_thinking: bool | None = Field(None, description="true: always reason first (the prompt opens the think block); false: answer directly (empty think block); unset: the model decides, as it learned in training.")


class Training(Section):
    dataset: Dataset = Field(default_factory=Dataset, description="Where the data is and how it is prepared.")
    config: TrainingConfig = Field(default_factory=TrainingConfig, description="Adapter and optimizer settings.")
    decoding: Decoding = Field(default_factory=Decoding, description="Inference settings used by test and runtime.")
    alternative_checkpoints: list[Any] | dict[str, Any] = Field(
        default_factory=list,
        description="Checkpoints tested (filled by `test --checkpoints`): a list, or an object keyed by checkpoint name "
        "(the reference schema's shape); both are read.",
    )
    packaging_checkpoint: str | None = Field(
        None, description="Checkpoint to package (filled by `test --checkpoints`): a path, or a name (checkpoint-N, final) "
        "looked up in alternative_checkpoints, then under weights/<model-slug>/.")

    def checkpoint_entries(self) -> list[tuple[str, dict[str, Any]]]:
        """(name, entry) of every alternative checkpoint, for the list and the object shape alike."""
        items = self.alternative_checkpoints
        pairs = items.items() if isinstance(items, dict) else ((None, e) for e in items)
        out = []
        for name, entry in pairs:
            if isinstance(entry, dict):
                out.append((name or str(entry.get("path", "")).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1], entry))
        return out


class QualityMetrics(Section):
    benchmark_score: Number | None = Field(None, description="0-10: 10 x pass rate on the test cases.")
    base_model_score: Number | None = Field(None, description="The same score for the base model.")
    improvement_percent: Number | None = Field(None, description="Relative improvement over the base, in percent.")
    win_rate_vs_base: Number | None = Field(None, description="Per case: better 1, tie 0.5, worse 0; averaged.")
    test_queries: Number | None = Field(None, description="Number of test cases run.")
    checkpoint: str | None = Field(None, description="Checkpoint that was tested.")
    training_steps: Number | None = Field(None, description="Training steps of that checkpoint.")
    test_date: str | None = Field(None, description="When the tests ran (ISO 8601).")


class Perf(Section):
    latency_ms_overhead: Number | None = Field(None, description="Median per-token latency with the adapter minus without.")
    vram_mb_overhead: Number | None = Field(None, description="Adapter memory in MB.")
    supported_batch_sizes: list[int] = Field(default_factory=list, description="Batch sizes exercised by tests.")


class Evaluation(Section):
    min_improvement: float = Field(0.0, description="test_comparison passes when expert score - base score exceeds this (0-10 scale).")


class Repository(Section):
    type: str = Field("git", description="Repository kind (git).")
    url: str = Field(description="Repository URL.")


class Manifest(Section):
    """An expert's manifest, schema 2.0 (schema 1.0 is migrated by the loader)."""

    name: str = Field(description="Unique id, `expert-<name>` (lower case, digits, dashes).")
    version: str = Field(description="Semantic version, e.g. 0.1.0.")
    schema_version: Literal["2.0"] = Field("2.0", description="Manifest schema version.")
    description: str = Field("", description="What the expert does.")
    author: str | None = Field(None, description="Author or organisation.")
    homepage: str | None = Field(None, description="Project page.")
    license: str | None = Field(None, description="SPDX license id.")
    repository: str | Repository | None = Field(None, description="Source repository: a URL or {type, url}.")
    tags: list[str] = Field(default_factory=list, description="Free-form tags.")
    base_models: list[BaseModelSpec] = Field(description="Base models this expert is trained for (at least one).")
    soft_prompts: list[SoftPrompt] = Field(default_factory=list, description="Prompt-tuning soft prompts.")
    constraints: Constraints = Field(default_factory=Constraints, description="Loading order and dependencies.")
    capabilities: list[str] = Field(default_factory=list, description="`prefix:value`, prefixes task, feature, usecase, language (or any word).")
    limitations: list[str | Limitation] = Field(default_factory=list, description="Known limitations.")
    routing: Routing | None = Field(None, description="Hints for routing prompts to this expert.")
    training: Training = Field(default_factory=Training, description="Data, adapter, optimizer and decoding settings.")
    quality_metrics: QualityMetrics = Field(default_factory=QualityMetrics, description="Filled by `expert-cli test`.")
    perf: Perf = Field(default_factory=Perf, description="Filled by `expert-cli test`.")
    runtime: dict[str, Any] | None = Field(None, description="Runtime hints for servers (free form).")
    evaluation: Evaluation = Field(default_factory=Evaluation, description="How tests are judged.")
    integrity: dict[str, Any] | None = Field(None, description="Digests and signer info (free form).")

    def base_model(self, name: str | None = None) -> BaseModelSpec:
        """The base model entry called ``name`` (or the first); raises ``KeyError`` if absent."""
        if name is None:
            return self.base_models[0]
        for spec in self.base_models:
            if spec.name == name or _slug(spec.name) == _slug(name):
                return spec
        raise KeyError(name)


def _slug(name: str) -> str:
    return name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].lower().replace(".", "-").replace("_", "-")


def model_slug(name: str) -> str:
    """Directory-safe slug of a base model name: `Qwen3-0.6B` -> `qwen3-0-6b`."""
    return _slug(name)
