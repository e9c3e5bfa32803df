"""Where an install comes from: a `.expert` file, an expert directory, `git+URL#ref`, or an https URL.

Each source is turned into one local `.expert` file inside a caller-owned work directory.
Directories (also a git checkout holding an expert directory) are packaged on the fly, unsigned.
Plain `http://` is accepted for loopback hosts only (local mirrors and tests); anything else
must be https.
"""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from expertkit.errors import RegistryError, UsageError
from expertkit.packaging.safe_extract import DEFAULT_LIMITS

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DOWNLOAD_TIMEOUT_S = 60
GIT_TIMEOUT_S = 300


@dataclass(frozen=True)
class Fetched:
    path: Path  # a local .expert file
    kind: str  # file | dir | git | url
    source: str  # normalised, recorded in registry.json for `update`
    sidecar: Path | None = None  # a .sha256 to check (file sources only)


def _package_dir(directory: Path, work: Path) -> Path:
    from expertkit.packaging.build import build_package

    out = work / "package" / f"{directory.name}.expert"
    # installing must not rewrite the user's manifest: update_source=False
    return build_package(directory / "manifest.json", output=out, update_source=False).path


def _pick_in_checkout(root: Path, work: Path) -> Path:
    if (root / "manifest.json").is_file():
        return _package_dir(root, work)
    found = sorted(p for p in root.rglob("*.expert") if ".git" not in p.relative_to(root).parts and p.is_file())
    if not found:
        raise RegistryError(f"{root.name}: the repository has neither manifest.json at its root nor a .expert file")
    if len(found) > 1:
        from expertkit.packaging.reader import open_package
        from expertkit.registry.versions import version_key

        found.sort(key=lambda p: version_key(str(open_package(p).manifest.get("version", ""))))
    return found[-1]


def _git(args: list[str], cwd: Path | None = None) -> None:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        subprocess.run(["git", "-c", "protocol.ext.allow=never", *args], cwd=cwd, env=env, check=True,
                       capture_output=True, text=True, timeout=GIT_TIMEOUT_S)
    except FileNotFoundError:
        raise RegistryError("git is not installed", hint="install git, or download the .expert file") from None
    except subprocess.CalledProcessError as exc:
        last = (exc.stderr or "").strip().splitlines()[-1:] or ["failed"]
        raise RegistryError(f"git {args[0]} failed: {last[0]}") from None
    except subprocess.TimeoutExpired:
        raise RegistryError(f"git {args[0]} took longer than {GIT_TIMEOUT_S} s") from None


def _fetch_git(spec: str, work: Path) -> Fetched:
    url, _, ref = spec[len("git+"):].partition("#")
    if not url or url.startswith("-") or (ref and ref.startswith("-")):
        raise UsageError(f"{spec!r}: expected git+URL[#ref]")
    checkout = work / "checkout"
    _git(["clone", "--quiet", "--", url, str(checkout)])
    if ref:
        _git(["checkout", "--quiet", ref, "--"], cwd=checkout)
    return Fetched(_pick_in_checkout(checkout, work), "git", spec)


def _check_url(url: str) -> urllib.parse.ParseResult:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("https", "http"):
        raise UsageError(f"{url}: only https:// URLs are accepted")
    if parsed.scheme == "http" and parsed.hostname not in LOOPBACK:
        raise UsageError(f"{url}: plain http is accepted for 127.0.0.1/localhost only", hint="use an https:// URL")
    return parsed


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect must satisfy the same scheme policy as the URL the user typed."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001 - urllib's signature
        _check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _fetch_url(url: str, work: Path) -> Fetched:
    parsed = _check_url(url)
    name = Path(urllib.parse.unquote(parsed.path)).name or "download.expert"
    target = work / "download" / (name if name.endswith(".expert") else name + ".expert")
    target.parent.mkdir(parents=True, exist_ok=True)
    cap = DEFAULT_LIMITS.max_total_bytes
    try:
        opener = urllib.request.build_opener(_CheckedRedirects)
        with opener.open(url, timeout=DOWNLOAD_TIMEOUT_S) as resp, open(target, "wb") as out:
            total = 0
            while chunk := resp.read(1024 * 1024):
                total += len(chunk)
                if total > cap:
                    raise RegistryError(f"{url}: download is over the {cap}-byte cap")
                out.write(chunk)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RegistryError(f"{url}: download failed: {getattr(exc, 'reason', exc)}") from None
    return Fetched(target, "url", url)


def fetch_source(source: str, work: Path) -> Fetched:
    """Turn ``source`` into a local `.expert` file under ``work``."""
    if source.startswith("git+"):
        return _fetch_git(source, work)
    if source.startswith(("https://", "http://")):
        return _fetch_url(source, work)
    path = Path(source).expanduser()
    if path.is_file():
        path = path.resolve()
        return Fetched(path, "file", str(path), path.with_name(path.name + ".sha256"))
    if path.is_dir():
        if not (path / "manifest.json").is_file():
            raise UsageError(f"{source}: directory without manifest.json", hint="point at an expert directory or a .expert file")
        return Fetched(_package_dir(path.resolve(), work), "dir", str(path.resolve()))
    raise UsageError(f"{source}: no such file or directory, and not a git+URL or https URL")
