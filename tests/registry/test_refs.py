"""NAME[@VERSION]: one parser; an empty name or version is a usage error and removes nothing."""

from __future__ import annotations

import json

import pytest

from expertkit.errors import RegistryError, UsageError
from expertkit.registry.install import install
from expertkit.registry.refs import ExpertRef, parse_ref
from expertkit.registry.store import read_registry
from expertkit.registry.uninstall import uninstall


@pytest.mark.parametrize("text, expected", [("expert-sql", ExpertRef("expert-sql")),
                                            ("expert-sql@0.1.0", ExpertRef("expert-sql", "0.1.0"))])
def test_parse_ref(text, expected):
    assert parse_ref(text) == expected


@pytest.mark.parametrize("text", ["", "@", "@1.0.0", "expert-sql@", "a@b@c", "expert sql"])
def test_parse_ref_rejects_empty_parts(text):
    with pytest.raises(UsageError):
        parse_ref(text)


@pytest.fixture
def two_versions(make_package, signing_key):
    install(str(make_package("expert-ref", key=signing_key)))
    install(str(make_package("expert-ref", version="0.2.0", key=signing_key)))
    return read_registry()


@pytest.mark.parametrize("args", [("uninstall", "expert-ref@"), ("uninstall", "@0.1.0"), ("info", "@1.0.0"),
                                  ("info", "expert-ref@"), ("update", "expert-ref@"), ("ask", "expert-ref@", "hi")])
def test_empty_version_or_name_is_usage_error_and_keeps_everything(cli, two_versions, args):
    res = cli(*args)
    assert res.exit_code == 2, res
    assert "empty" in res.stderr and len(res.stderr.strip().splitlines()) <= 2
    assert read_registry() == two_versions


def test_info_update_and_uninstall_take_a_version(cli, two_versions):
    assert json.loads(cli("info", "expert-ref@0.1.0", "--json").stdout)["version"] == "0.1.0"
    res = cli("update", "expert-ref@0.1.0")
    assert res.exit_code == 0 and "not installed" not in res.output, res
    res = cli("info", "expert-ref@9.9.9")
    assert res.exit_code == 2 and "expert-ref 9.9.9 is not installed (installed: 0.1.0, 0.2.0)" in res.stderr
    with pytest.raises(RegistryError):
        uninstall("expert-ref@9.9.9")
    res = cli("uninstall", "expert-ref@0.1.0")
    assert res.exit_code == 0 and list(read_registry()["experts"]["expert-ref"]["versions"]) == ["0.2.0"]
