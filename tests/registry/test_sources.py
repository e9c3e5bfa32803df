"""Install sources: expert directory, git+URL#ref (local bare repo), http on 127.0.0.1; and `update`."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading

import pytest

from expertkit.errors import IntegrityError, UsageError
from expertkit.registry.install import Options, install
from expertkit.registry.store import read_registry
from expertkit.registry.update import update
from tests.packaging.expert_builders import make_expert_dir


def _git(*args, cwd=None):
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "HOME": str(cwd or "."), "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def test_directory_source_is_packaged_unsigned(expert_dir):
    before = (expert_dir / "manifest.json").read_bytes()
    # point packaging_checkpoint at the weights so the dir packages without --weights
    raw = json.loads(before)
    raw["training"]["packaging_checkpoint"] = str(next((expert_dir / "weights").glob("*/checkpoint-7")).relative_to(expert_dir))
    (expert_dir / "manifest.json").write_text(json.dumps(raw, indent=2))
    before = (expert_dir / "manifest.json").read_bytes()
    with pytest.raises(IntegrityError, match="unsigned"):
        install(str(expert_dir))
    result = install(str(expert_dir), Options(allow_unsigned=True))
    record = read_registry()["experts"]["expert-demo"]["versions"]["0.1.0"]
    assert record["source_kind"] == "dir" and record["signer"] is None and result.path.is_dir()
    assert (expert_dir / "manifest.json").read_bytes() == before  # install never rewrites the user's manifest


@pytest.mark.parametrize("layout", ["expert-file", "expert-dir"])
def test_git_source_from_local_bare_repo(tmp_path, make_package, signing_key, tiny_llama_dir, lora_adapter_dir, layout):
    work = tmp_path / "work"
    if layout == "expert-file":
        work.mkdir()
        pkg = make_package("expert-git", key=signing_key)
        shutil.copy(pkg, work / pkg.name)
    else:
        make_expert_dir(work, "expert-git", tiny_llama_dir, lora_adapter_dir)
        raw = json.loads((work / "manifest.json").read_text())
        raw["training"]["packaging_checkpoint"] = str(next((work / "weights").glob("*/checkpoint-7")).relative_to(work))
        (work / "manifest.json").write_text(json.dumps(raw, indent=2))
    _git("init", "-q", "-b", "main", cwd=work)
    _git("add", "-A", cwd=work)
    _git("commit", "-q", "-m", "release", cwd=work)
    _git("tag", "v0.1.0", cwd=work)
    bare = tmp_path / "expert-git.git"
    _git("clone", "-q", "--bare", str(work), str(bare), cwd=tmp_path)
    result = install(f"git+{bare}#v0.1.0", Options(allow_unsigned=layout == "expert-dir"))
    record = read_registry()["experts"]["expert-git"]["versions"]["0.1.0"]
    assert record["source_kind"] == "git" and record["source"] == f"git+{bare}#v0.1.0"
    assert (record["signer"] is not None) == (layout == "expert-file") and (result.path / "adapter_model.safetensors").is_file()


def test_git_bad_ref_is_one_line(tmp_path):
    from expertkit.errors import RegistryError

    with pytest.raises(RegistryError, match="git clone failed"):
        install(f"git+{tmp_path / 'nope.git'}#v1")


@pytest.fixture
def http_dir(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_url_source_from_local_http_server(http_dir, make_package, signing_key):
    served, base = http_dir
    pkg = make_package("expert-web", key=signing_key)
    shutil.copy(pkg, served / pkg.name)
    install(f"{base}/{pkg.name}")
    record = read_registry()["experts"]["expert-web"]["versions"]["0.1.0"]
    assert record["source_kind"] == "url" and record["trusted"]


def test_url_404_and_plain_http_policy(http_dir):
    from expertkit.errors import RegistryError

    _, base = http_dir
    with pytest.raises(RegistryError, match="download failed"):
        install(f"{base}/missing.expert")
    with pytest.raises(UsageError, match="127.0.0.1/localhost only"):
        install("http://example.invalid/x.expert")


def test_update_from_recorded_source(cli, make_package, signing_key, tmp_path):
    release = tmp_path / "release.expert"
    shutil.copy(make_package("expert-up", key=signing_key), release)
    install(str(release))
    res = cli("update", "expert-up")
    assert res.exit_code == 0 and "up to date" in res.stdout
    shutil.copy(make_package("expert-up", version="0.2.0", key=signing_key), release)
    result = update("expert-up")
    assert result.updated and (result.old_version, result.new_version) == ("0.1.0", "0.2.0")
    entry = read_registry()["experts"]["expert-up"]
    assert entry["current"] == "0.2.0" and sorted(entry["versions"]) == ["0.1.0", "0.2.0"]
