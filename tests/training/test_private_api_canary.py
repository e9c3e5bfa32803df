"""Canary: every private hook of transformers, TRL and PEFT that training overrides, calls or reads.

An upgrade that renames or reshapes one of these must fail here, loudly, instead of training
differently (an override nobody calls any more is silent). When this fails: read the library's
new code, adapt the module named in the message (or switch the speedup off in speedups.py), then
update the expectation here. `make test-latest` runs this file against the newest releases.
"""

from __future__ import annotations

import inspect

import pytest
import torch

from expertkit.training.attention import PACKED_SDPA

from .test_packing import _trainer


def _params(func) -> list[str]:
    return [p for p in inspect.signature(func).parameters if p not in ("self", "args", "kwargs")]


# transformers.Trainer methods ExpertSFTTrainer (sft_trainer.py) overrides or calls, with the
# parameters our code passes or accepts
TRAINER_HOOKS = {
    "_save_checkpoint": ["model", "trial"],
    "_load_optimizer_and_scheduler": ["checkpoint"],
    "_load_rng_state": ["checkpoint"],
    "_save": ["output_dir", "state_dict"],
    "_save_optimizer_and_scheduler": ["output_dir"],
    "_get_output_dir": ["trial"],
    "save_model": ["output_dir", "_internal_call"],
    "store_flos": [],
    "get_tp_size": [],
    "compute_loss": ["model", "inputs", "return_outputs", "num_items_in_batch"],
}


@pytest.mark.parametrize("name", sorted(TRAINER_HOOKS))
def test_transformers_trainer_hooks(name):
    from transformers import Trainer
    from trl import SFTTrainer

    for cls in (Trainer, SFTTrainer):
        assert callable(getattr(cls, name, None)), f"{cls.__name__}.{name} is gone (sft_trainer.py overrides/calls it)"
        assert _params(getattr(cls, name)) == TRAINER_HOOKS[name], f"{cls.__name__}.{name} changed its signature"


def test_transformers_trainer_internals_we_call_are_wired():
    """Our overrides only run if Trainer still calls them from its loop."""
    from transformers import Trainer
    from transformers.trainer import TRAINING_ARGS_NAME
    from transformers.trainer_callback import ExportableState, PrinterCallback, ProgressCallback

    assert TRAINING_ARGS_NAME == "training_args.bin"
    assert ExportableState and PrinterCallback and ProgressCallback
    loop = inspect.getsource(Trainer)
    for call in ("self._save_checkpoint(", "self._load_optimizer_and_scheduler(", "self._load_rng_state("):
        assert call in loop, f"Trainer no longer calls {call}...): our override in sft_trainer.py would be dead"


def test_trl_state_we_read_and_write(tiny_llama_dir, tmp_path):
    trainer = _trainer(tiny_llama_dir, tmp_path)
    assert set(trainer._metrics) >= {"train", "eval"} and isinstance(trainer._metrics["train"]["entropy"], list)
    assert isinstance(trainer._total_train_tokens, int) and isinstance(trainer._tp_size, int)
    for name in ("aux_loss_enabled", "compute_loss_func", "label_smoother", "is_deepspeed_enabled", "is_fsdp_enabled"):
        assert hasattr(trainer, name), f"trainer.{name} is gone (sft_trainer.py reads it)"
    assert trainer.args.loss_type == "nll" and hasattr(trainer.args, "average_tokens_across_devices")


def test_peft_lora_variant_hook():
    from peft.tuners.lora.layer import Linear, LoraVariant

    expected = {"init": ["module", "adapter_name"], "merge_safe": ["module", "active_adapter", "orig_weight"],
                "merge_unsafe": ["module", "active_adapter", "orig_weight"],
                "unmerge": ["module", "active_adapter", "orig_weight"], "forward": ["module", "active_adapter", "x", "result"]}
    for name, params in expected.items():
        assert isinstance(inspect.getattr_static(LoraVariant, name), staticmethod), f"LoraVariant.{name} is no longer static"
        assert _params(getattr(LoraVariant, name)) == params, f"LoraVariant.{name} changed its signature (fused_lora.py)"
    forward = inspect.getsource(Linear.forward)
    assert "self.lora_variant[active_adapter].forward(" in forward and "result=" in forward


def test_peft_lora_layer_attributes(tiny_llama_dir, tmp_path):
    from peft.tuners.lora.layer import Linear

    trainer = _trainer(tiny_llama_dir, tmp_path)
    layers = [m for m in trainer.model.modules() if type(m) is Linear]
    assert layers, "no PEFT lora Linear layers: fused_lora.py and dropout.py would patch nothing"
    layer = layers[0]
    for name in ("lora_A", "lora_B", "lora_dropout", "lora_variant", "lora_bias", "scaling"):
        assert hasattr(layer, name), f"lora Linear.{name} is gone (fused_lora.py / dropout.py use it)"
    assert isinstance(layer.lora_dropout, torch.nn.ModuleDict) and isinstance(layer.lora_variant, dict)
    assert callable(layer.get_delta_weight)


def test_attention_and_masking_names():
    from transformers import AttentionInterface, PreTrainedModel
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    assert _params(sdpa_attention_forward)[:8] == ["module", "query", "key", "value", "attention_mask", "dropout", "scaling", "is_causal"]
    assert callable(sdpa_mask) and callable(ALL_MASK_ATTENTION_FUNCTIONS.register) and callable(AttentionInterface.register)
    assert callable(PreTrainedModel.set_attn_implementation)
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    assert '"cu_seq_lens_q"' in inspect.getsource(DataCollatorForLanguageModeling), "TRL's padding-free collator changed"


def test_packed_attention_is_what_the_model_runs(tiny_llama_dir, tmp_path):
    trainer = _trainer(tiny_llama_dir, tmp_path)
    assert trainer.model.get_base_model().config._attn_implementation == PACKED_SDPA


def test_head_loss_model_api(tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir), dtype=torch.float32)
    assert "logits_to_keep" in inspect.signature(model.forward).parameters
    assert callable(model.get_decoder) and callable(model.get_output_embeddings) and callable(model.config.get_text_config)


def test_ddp_forward_calls_the_wrapped_module():
    """answer_loss.as_forward runs the CPU head as the DDP wrapper's forward by shadowing the wrapped module's
    ``forward``: that needs DDP to reach it through ``self.module(...)`` between its pre- and post-forward."""
    from torch.nn.parallel import DistributedDataParallel

    forward = inspect.getsource(DistributedDataParallel.forward)
    assert "_pre_forward(" in forward and "_post_forward(" in forward and "_run_ddp_forward(" in forward
    assert "self.module(*inputs, **kwargs)" in inspect.getsource(DistributedDataParallel._run_ddp_forward)
