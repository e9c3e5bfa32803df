"""Regenerate docs/manifest-reference.md from the manifest model."""

from pathlib import Path

from expertkit.manifest.reference import manifest_reference_markdown

if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "docs" / "manifest-reference.md"
    out.write_text(manifest_reference_markdown())
    print(f"wrote {out}")
