"""load_base on the tiny Llama and Qwen3 fixtures: devices, dtype, rope_scaling, quantization, sha256."""

from __future__ import annotations

import pytest
import torch

from expertkit.errors import EnvironmentProblem, IntegrityError, UsageError, ValidationError
from expertkit.manifest.model import BaseModelSpec
from expertkit.models.digest import model_digest
from expertkit.models.loading import LoadedBase, load_base


def _spec(path, **kw) -> BaseModelSpec:
    return BaseModelSpec(name=str(path), **kw)


def test_tiny_models_load_and_generate(tiny_model_dir):
    loaded = load_base(str(tiny_model_dir), device="cpu")
    assert isinstance(loaded, LoadedBase)
    assert loaded.resolved.source == "path" and loaded.device == "cpu" and loaded.warnings == []
    assert loaded.model.dtype == torch.float32 and not loaded.model.training
    tok = loaded.tokenizer
    assert "<|im_start|>" in tok.chat_template
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    eos = loaded.model.generation_config.eos_token_id
    assert im_end == eos or im_end in eos
    ids = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = loaded.model.generate(**ids, max_new_tokens=3, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]


def test_architectures(tiny_llama_dir, tiny_qwen3_dir):
    assert type(load_base(str(tiny_llama_dir), device="cpu").model).__name__ == "LlamaForCausalLM"
    assert type(load_base(str(tiny_qwen3_dir), device="cpu").model).__name__ == "Qwen3ForCausalLM"


def test_cuda_without_gpu_is_environment_problem(tiny_llama_dir):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(EnvironmentProblem) as err:
        load_base(str(tiny_llama_dir), device="cuda")
    assert "CUDA is not available" in err.value.message and err.value.exit_code == 3


def test_bad_device_is_usage_error(tiny_llama_dir):
    with pytest.raises(UsageError):
        load_base(str(tiny_llama_dir), device="tpu")


def test_dtype_by_name_and_spec(tiny_llama_dir):
    assert load_base(str(tiny_llama_dir), device="cpu", dtype="bfloat16").model.dtype == torch.bfloat16
    assert load_base(_spec(tiny_llama_dir, quantization="bf16"), device="cpu").model.dtype == torch.bfloat16
    loaded = load_base(_spec(tiny_llama_dir, quantization="fp16"), device="cpu")
    assert loaded.model.dtype == torch.float32 and "float16 on CPU" in loaded.warnings[0]


@pytest.mark.parametrize("quant", ["int4", "int8"])
def test_int_quantization_on_cpu_loads_unquantized_with_warning(tiny_qwen3_dir, quant):
    loaded = load_base(_spec(tiny_qwen3_dir, quantization=quant), device="cpu")
    assert loaded.model.dtype == torch.float32
    assert any(quant in w and "unquantized" in w for w in loaded.warnings)


def test_supported_rope_scaling_is_applied(tiny_qwen3_dir):
    spec = _spec(tiny_qwen3_dir, rope_scaling={"type": "yarn", "factor": 4.0, "_comment": "a note"})
    loaded = load_base(spec, device="cpu")
    rope = loaded.model.config.rope_parameters
    assert rope["rope_type"] == "yarn" and rope["factor"] == 4.0 and "_comment" not in rope
    assert loaded.warnings == []


def test_guide_rope_type_warns_naming_it(tiny_qwen3_dir):
    spec = _spec(tiny_qwen3_dir, rope_scaling={"type": "ntk-by-parts", "factor": 8.0, "fine_grained": True})
    loaded = load_base(spec, device="cpu")
    assert loaded.model.config.rope_parameters["rope_type"] == "default"
    assert len(loaded.warnings) == 1 and "'ntk-by-parts'" in loaded.warnings[0] and "base_models[0].rope_scaling" in loaded.warnings[0]


def test_rope_unknown_keys_become_warnings(tiny_llama_dir):
    loaded = load_base(_spec(tiny_llama_dir, rope_scaling={"rope_type": "linear", "factor": 2.0, "fine_grained": True}), device="cpu")
    assert loaded.model.config.rope_parameters["factor"] == 2.0
    assert any("fine_grained" in w for w in loaded.warnings)


def test_rope_missing_required_key_is_validation_error(tiny_llama_dir):
    with pytest.raises(ValidationError) as err:
        load_base(_spec(tiny_llama_dir, rope_scaling="linear"), device="cpu")
    assert "rope_scaling" in err.value.message and "factor" in err.value.message


def test_sha256_match_is_checked(tiny_llama_dir):
    digest = model_digest(tiny_llama_dir)
    loaded = load_base(_spec(tiny_llama_dir, sha256=digest.upper()), device="cpu")
    assert loaded.digest == digest


def test_sha256_mismatch_is_integrity_error(tiny_llama_dir):
    with pytest.raises(IntegrityError) as err:
        load_base(_spec(tiny_llama_dir, sha256="0" * 64), device="cpu")
    assert "base_models[0].sha256" in err.value.message and "does not match" in err.value.message


def test_sha256_not_hex_is_validation_error(tiny_llama_dir):
    with pytest.raises(ValidationError) as err:
        load_base(_spec(tiny_llama_dir, sha256="abc"), device="cpu")
    assert "not a sha256 digest" in err.value.message


def test_empty_sha256_means_unchecked(tiny_llama_dir):
    assert load_base(_spec(tiny_llama_dir, sha256=""), device="cpu").digest is None
