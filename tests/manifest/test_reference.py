"""The committed manifest reference is generated from the model and must be current."""

from pathlib import Path

from expertkit.manifest.model import Manifest
from expertkit.manifest.reference import manifest_reference_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "manifest-reference.md"


def test_reference_is_current():
    assert DOC.read_text() == manifest_reference_markdown(), "run: python scripts/gen_manifest_reference.py"


def test_every_field_is_documented():
    def walk(model, seen):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            for arg in getattr(field.annotation, "__args__", ()) + (field.annotation,):
                for sub in getattr(arg, "__args__", ()) + (arg,):
                    if isinstance(sub, type) and hasattr(sub, "model_fields") and sub not in seen:
                        seen.add(sub)
                        walk(sub, seen)

    walk(Manifest, {Manifest})
