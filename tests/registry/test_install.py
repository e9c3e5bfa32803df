"""install / list / info / uninstall: the round trip, the policy, versions, the base-model check."""

from __future__ import annotations

import json

import pytest

from expertkit.errors import EnvironmentProblem, IntegrityError, RegistryError
from expertkit.home import experts_dir, registry_file, trusted_keys_dir
from expertkit.packaging.keys import generate_keypair
from expertkit.registry.install import Options, install
from expertkit.registry.store import read_registry
from expertkit.registry.uninstall import uninstall
from tests.packaging.test_tamper import rewrite_members


def test_round_trip_package_sign_verify_install_list_info_uninstall(cli, expert_dir, expert_home):
    weights = next((expert_dir / "weights").glob("*/checkpoint-7"))
    out = expert_dir / "dist" / "demo.expert"
    assert cli("package", "--manifest", expert_dir / "manifest.json", "--weights", weights, "--output", out).exit_code == 0
    assert cli("keygen").exit_code == 0
    assert cli("sign", "--expert", out).exit_code == 0
    assert cli("trust", "add", expert_home / "keys" / "default.pub").exit_code == 0
    res = cli("verify", out)
    assert res.exit_code == 0, res
    res = cli("install", out)
    assert res.exit_code == 0, res
    target = experts_dir() / "expert-demo" / "0.1.0"
    assert (target / "adapter_model.safetensors").is_file() and (target / "manifest.json").is_file()
    listed = {e["name"]: e for e in json.loads(cli("list", "--json").stdout)["experts"]}
    record = listed["expert-demo"]["versions"]["0.1.0"]
    assert listed["expert-demo"]["current"] == "0.1.0" and record["trusted"] and len(record["signer"]) == 64
    assert record["source_kind"] == "file" and record["path"] == str(target)
    info = json.loads(cli("info", "expert-demo", "--json").stdout)
    assert info["adapter"]["checkpoint_step"] == 7 and info["capabilities"] == ["task:testing"]
    assert "expert-demo" in cli("list").stdout
    res = cli("uninstall", "expert-demo")
    assert res.exit_code == 0, res
    assert not target.exists() and read_registry()["experts"] == {}
    assert cli("info", "expert-demo").exit_code == 2


def test_unsigned_needs_allow_unsigned(cli, make_package):
    path = make_package("expert-plain")
    res = cli("install", path)
    assert res.exit_code == 1 and "unsigned" in res.stderr and "--allow-unsigned" in res.stderr
    assert not registry_file().exists() or read_registry()["experts"] == {}
    res = cli("install", path, "--allow-unsigned")
    assert res.exit_code == 0, res
    assert read_registry()["experts"]["expert-plain"]["versions"]["0.1.0"]["signer"] is None


def test_untrusted_signer_needs_trust_which_records_the_key(cli, make_package, tmp_path):
    pair = generate_keypair(tmp_path / "stranger")
    path = make_package("expert-signed", key=pair.private_path)
    res = cli("install", path)
    assert res.exit_code == 1 and "not trusted" in res.stderr and "--trust" in res.stderr
    res = cli("install", path, "--trust")
    assert res.exit_code == 0, res
    assert [p.read_bytes() for p in trusted_keys_dir().glob("*.pub")] == [pair.public_path.read_bytes()]


@pytest.mark.parametrize("member", ["adapter_model.safetensors", "manifest.json", "DIGESTS", "SIGNATURE"])
def test_tampered_is_always_refused(make_package, signing_key, member):
    path = make_package("expert-victim", key=signing_key)
    rewrite_members(path, lambda f: f.__setitem__(member, f[member][:-2] + b"!\n"))
    with pytest.raises(IntegrityError, match="integrity check failed") as err:
        install(str(path), Options(allow_unsigned=True, trust=True, reinstall=True, ignore_base_model=True))
    assert any(check in err.value.message for check in ("members", "signature", "digests"))
    assert not (experts_dir() / "expert-victim").exists()


def test_versions_current_and_reinstall(make_package, signing_key):
    install(str(make_package("expert-multi", key=signing_key)))
    install(str(make_package("expert-multi", version="0.2.0", key=signing_key)))
    entry = read_registry()["experts"]["expert-multi"]
    assert entry["current"] == "0.2.0" and sorted(entry["versions"]) == ["0.1.0", "0.2.0"]
    with pytest.raises(RegistryError, match="already installed"):
        install(str(make_package("expert-multi", version="0.2.0", key=signing_key)))
    install(str(make_package("expert-multi", version="0.2.0", key=signing_key)), Options(reinstall=True))
    result = uninstall("expert-multi@0.2.0")
    assert result.current == "0.1.0" and read_registry()["experts"]["expert-multi"]["current"] == "0.1.0"
    assert not (experts_dir() / "expert-multi" / "0.2.0").exists() and (experts_dir() / "expert-multi" / "0.1.0").is_dir()


def test_base_model_digest_mismatch_refused_with_fix_and_force(cli, make_package, signing_key):
    path = make_package("expert-wrongbase", key=signing_key, sha256="0" * 64)
    res = cli("install", path)
    assert res.exit_code == 1 and "digest" in res.stderr and "--ignore-base-model" in res.stderr and "models import" in res.stderr
    assert cli("install", path, "--force").exit_code == 1  # reinstalling is another choice
    res = cli("install", path, "--ignore-base-model")
    assert res.exit_code == 0 and "--ignore-base-model" in res.output


def test_base_model_missing_refused(signing_key, tmp_path, tiny_llama_dir, lora_adapter_dir):
    import shutil

    from tests.packaging.expert_builders import build_expert

    model = shutil.copytree(tiny_llama_dir, tmp_path / "vanishing-model")
    path = build_expert(tmp_path / "src", "expert-orphan", model, lora_adapter_dir, key=signing_key)
    shutil.rmtree(model)
    with pytest.raises(EnvironmentProblem, match="not available locally") as err:
        install(str(path))
    assert "--ignore-base-model" in err.value.hint


def test_incompatible_with_installed_warns(make_package, signing_key):
    install(str(make_package("expert-left", key=signing_key)))
    result = install(str(make_package("expert-right", key=signing_key, incompatible_with=["expert-left"])))
    assert any("incompatible" in w and "expert-left" in w for w in result.warnings)
