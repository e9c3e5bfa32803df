"""The guide's complete manifest template validates once its `#` comment is gone and its
placeholders are filled."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def guide_template_text() -> str:
    """The template from ../shared/seed/EXPERT_CREATION_GUIDE.md, copied verbatim."""
    return (HERE / "guide_template.json").read_text()


def filled_guide_template() -> dict:
    text = re.sub(r"\s+#[^\n]*", "", guide_template_text())  # the one `# Note:` comment
    text = text.replace("<name>", "sql").replace("<task-name>", "sql_generation")
    text = text.replace("<feature-name>", "joins").replace("<usecase-name>", "analytics").replace("<lang-code>", "en")
    return json.loads(text)


def test_guide_template_has_a_comment_that_is_not_json():
    with pytest.raises(json.JSONDecodeError):
        json.loads(guide_template_text())


def test_guide_template_validates(tmp_path, cli):
    (tmp_path / "manifest.json").write_text(json.dumps(filled_guide_template(), indent=2))
    res = cli("validate", "--manifest", tmp_path / "manifest.json")
    assert res.exit_code == 0, res
    assert "is valid" in res.stdout
    # the guide's base model path and missing datasets are warnings, never errors here
    res = cli("validate", "--manifest", tmp_path / "manifest.json", "--json")
    payload = json.loads(res.stdout)
    assert payload["valid"] is True and payload["errors"] == []


def test_raw_guide_template_gives_line_and_column(tmp_path, cli):
    (tmp_path / "manifest.json").write_text(guide_template_text())
    res = cli("validate", "--manifest", tmp_path / "manifest.json")
    assert res.exit_code == 2
    # issue #14: the template's `#` comment is named as such (line:col kept) instead of a bare "not valid JSON"
    assert re.search(r"manifest\.json:\d+:\d+: a `#` comment, but JSON has no comments", res.stderr)
    assert "Traceback" not in res.output
