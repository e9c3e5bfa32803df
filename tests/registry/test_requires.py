"""constraints.requires: transitive resolution with --from DIR, missing lists, cycles, the uninstall guard."""

from __future__ import annotations

import pytest

from expertkit.errors import IntegrityError, RegistryError
from expertkit.registry.install import Options, install
from expertkit.registry.store import read_registry
from expertkit.registry.uninstall import uninstall


def test_missing_requirements_are_all_listed(make_package, signing_key):
    path = make_package("expert-app", key=signing_key, requires=["expert-base", "expert-json@>=0.2"])
    with pytest.raises(RegistryError) as err:
        install(str(path))
    assert "expert-base" in err.value.message and "expert-json@>=0.2" in err.value.message
    assert "--from" in err.value.hint
    assert read_registry()["experts"] == {}


def test_transitive_resolution_from_dir(make_package, signing_key, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    make_package("expert-c", key=signing_key, out_dir=repo)
    make_package("expert-b", key=signing_key, requires=["expert-c"], out_dir=repo)
    make_package("expert-b", version="0.3.0", key=signing_key, requires=["expert-c@>=0.1,<1"], out_dir=repo)
    app = make_package("expert-a", key=signing_key, requires=["expert-b@>=0.2"])
    result = install(str(app), Options(from_dir=repo))
    assert result.dependencies == ["expert-c@0.1.0", "expert-b@0.3.0"]
    experts = read_registry()["experts"]
    assert {n: e["current"] for n, e in experts.items()} == {"expert-a": "0.1.0", "expert-b": "0.3.0", "expert-c": "0.1.0"}


def test_installed_version_must_match_the_spec(make_package, signing_key, tmp_path):
    install(str(make_package("expert-b", key=signing_key)))
    app = make_package("expert-a", key=signing_key, requires=["expert-b@>=0.2"])
    with pytest.raises(RegistryError, match="expert-b@>=0.2"):
        install(str(app))
    repo = tmp_path / "repo"
    repo.mkdir()
    make_package("expert-b", version="0.2.1", key=signing_key, out_dir=repo)
    install(str(app), Options(from_dir=repo))
    assert sorted(read_registry()["experts"]["expert-b"]["versions"]) == ["0.1.0", "0.2.1"]


def test_cycle_is_an_error(make_package, signing_key, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    make_package("expert-b", key=signing_key, requires=["expert-c"], out_dir=repo)
    make_package("expert-c", key=signing_key, requires=["expert-a"], out_dir=repo)
    app = make_package("expert-a", key=signing_key, requires=["expert-b"])
    with pytest.raises(RegistryError, match="cycle: expert-a -> expert-b -> expert-c -> expert-a"):
        install(str(app), Options(from_dir=repo))
    assert read_registry()["experts"] == {}


def test_dependency_policy_applies_too(make_package, tmp_path, signing_key):
    repo = tmp_path / "repo"
    repo.mkdir()
    make_package("expert-dep", out_dir=repo)  # unsigned
    app = make_package("expert-top", key=signing_key, requires=["expert-dep"])
    with pytest.raises(IntegrityError, match="unsigned"):
        install(str(app), Options(from_dir=repo))
    assert read_registry()["experts"] == {}  # nothing half-installed


def test_uninstall_guard(cli, make_package, signing_key, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    make_package("expert-lib", key=signing_key, out_dir=repo)
    install(str(make_package("expert-user", key=signing_key, requires=["expert-lib"])), Options(from_dir=repo))
    res = cli("uninstall", "expert-lib")
    assert res.exit_code == 2 and "required by expert-user" in res.stderr and "--force" in res.stderr
    with pytest.raises(RegistryError):
        uninstall("expert-lib@0.1.0")
    uninstall("expert-user")
    uninstall("expert-lib")
    assert read_registry()["experts"] == {}


def test_uninstall_force_warns(make_package, signing_key, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    make_package("expert-lib", key=signing_key, out_dir=repo)
    install(str(make_package("expert-user", key=signing_key, requires=["expert-lib"])), Options(from_dir=repo))
    result = uninstall("expert-lib", force=True)
    assert result.warnings and "expert-user" in result.warnings[0]
