"""One rule for `current` (newest unless pinned), versions in version order, trust shown as it is now."""

from __future__ import annotations

import json

from expertkit.registry.install import Options, install
from expertkit.registry.store import read_registry


def _listed(cli) -> dict:
    """`list --json` (the one output shape: {"experts": [{"name": ..., ...}]}) keyed by name."""
    return {e["name"]: e for e in json.loads(cli("list", "--json").stdout)["experts"]}


def test_newest_is_current_unless_pinned_and_versions_sort_as_versions(cli, make_package, signing_key):
    for version in ("0.9.0", "0.10.0", "0.2.0"):
        install(str(make_package("expert-ver", version=version, key=signing_key)))
    entry = read_registry()["experts"]["expert-ver"]
    assert entry["current"] == "0.10.0"  # installing 0.2.0 last did not make the older one current
    info = json.loads(cli("info", "expert-ver", "--json").stdout)
    assert info["versions"] == ["0.2.0", "0.9.0", "0.10.0"] and "newest" in info["current_rule"]
    assert list(_listed(cli)["expert-ver"]["versions"]) == ["0.2.0", "0.9.0", "0.10.0"]
    assert "unless one is pinned" in cli("list").stdout
    result = install(str(make_package("expert-ver", version="0.9.0", key=signing_key)), Options(reinstall=True, pin=True))
    assert read_registry()["experts"]["expert-ver"]["current"] == "0.9.0" and result.warnings == []
    install(str(make_package("expert-ver", version="0.11.0", key=signing_key)))
    assert read_registry()["experts"]["expert-ver"]["current"] == "0.9.0"  # the pin holds
    assert "(pinned)" in cli("list").stdout
    assert cli("uninstall", "expert-ver@0.9.0").exit_code == 0
    assert read_registry()["experts"]["expert-ver"]["current"] == "0.11.0"


def test_install_of_an_older_version_says_which_stays_current(cli, make_package, signing_key):
    install(str(make_package("expert-old", version="0.10.0", key=signing_key)))
    res = cli("install", make_package("expert-old", version="0.2.0", key=signing_key))
    assert res.exit_code == 0 and "0.10.0 stays current" in res.output  # a warning: on stderr, res


def test_trusted_is_what_the_store_says_now(cli, make_package, signing_key):
    install(str(make_package("expert-tr", key=signing_key)))
    assert json.loads(cli("info", "expert-tr", "--json").stdout)["trusted"] is True
    assert cli("trust", "remove", signing_key.with_name(signing_key.name + ".pub")).exit_code == 0
    info = json.loads(cli("info", "expert-tr", "--json").stdout)
    assert info["trusted"] is False and info["trusted_at_install"] is True
    listed = _listed(cli)["expert-tr"]["versions"]["0.1.0"]
    assert listed["trusted"] is False and "not trusted now" in cli("list").stdout


def test_registry_json_that_is_a_directory_is_an_environment_error(cli, expert_home):
    (expert_home / "registry.json").mkdir(parents=True)
    for args in (("list",), ("info", "expert-x"), ("uninstall", "expert-x")):
        res = cli(*args)
        assert res.exit_code == 3 and "registry.json: is not a file" in res.stderr, res
