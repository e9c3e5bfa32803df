"""The same `expert-cli train` entry runs under `accelerate launch` and torch.distributed (world size 1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ACCELERATE_CONFIG = """\
compute_environment: LOCAL_MACHINE
distributed_type: MULTI_CPU
num_machines: 1
num_processes: 1
machine_rank: 0
mixed_precision: 'no'
use_cpu: true
"""


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_train_under_accelerate_launch_and_ddp_world_size_1(make_expert, tiny_llama_dir, tmp_path):
    manifest = make_expert(tiny_llama_dir, config={"max_steps": 2, "save_steps": 2})
    (tmp_path / "accelerate.yaml").write_text(ACCELERATE_CONFIG)
    bin_dir = Path(sys.executable).parent
    train = ["-m", "expertkit.cli.main", "train", "--manifest", str(manifest), "--json-logs"]
    launches = {
        "accelerate": [str(bin_dir / "accelerate"), "launch", "--config_file", str(tmp_path / "accelerate.yaml"), *train, "--output", "w1"],
        # torchrun sets RANK/WORLD_SIZE, so accelerate sets up a real (gloo) process group: the DDP code path
        "ddp": [str(bin_dir / "torchrun"), "--nproc_per_node", "1", *train, "--output", "w2"],
    }
    seen = {}
    for name, cmd in launches.items():
        res = _run(cmd, tmp_path)
        assert res.returncode == 0, (name, res.stdout[-2000:], res.stderr[-3000:])
        end = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")][-2:]
        summary_path = next(e["summary"] for e in end if e["event"] == "end")
        summary = json.loads((tmp_path / summary_path).read_text())
        assert summary["steps"] == 2 and summary["config"]["effective"]["world_size"] == 1
        assert (tmp_path / summary["final"]["path"] / "adapter_model.safetensors").is_file()
        seen[name] = summary["config"]["effective"]["distributed_type"]
    assert seen["ddp"] == "MULTI_CPU"


def test_readme_launch_configs_load_in_accelerate(tmp_path):
    """The DDP/FSDP/DeepSpeed configs README gives for GPUs are ones `accelerate launch --config_file` reads."""
    import re

    from accelerate.commands.config.config_args import ClusterConfig

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Scaling training out"):readme.index("## Running experts on vLLM")]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    seen = {}
    for i, block in enumerate(blocks):
        (tmp_path / f"{i}.yaml").write_text(block)
        config = ClusterConfig.from_yaml_file(str(tmp_path / f"{i}.yaml"))  # unknown keys raise
        seen[str(config.distributed_type.value)] = config
    assert set(seen) == {"MULTI_GPU", "FSDP", "DEEPSPEED"}
    assert seen["FSDP"].fsdp_config["fsdp_version"] == 2 and seen["DEEPSPEED"].deepspeed_config["zero_stage"] == 2
