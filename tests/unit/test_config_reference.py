"""docs/configuration.md is generated from the config model and must match it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from infra import config_reference as ref
from stacks.config.base import Model
from stacks.config.model import StackConfig


def test_committed_reference_is_current():
    committed = ref.OUTPUT.read_text(encoding="utf-8")
    assert committed == ref.render(), "docs/configuration.md is stale: run python -m infra.config_reference --write"


def test_every_key_of_the_model_is_documented():
    text = ref.render()
    for name, field in StackConfig.model_fields.items():
        assert f"| `makini:{field.alias or name}` |" in text
    # Nested sections and list items: spot checks of the path notation.
    assert "| `makini:connections[].tier` | 1 \\| 2 \\| 3 | **required** |" in text
    assert "| `makini:tags.owner` | string | **required** | pattern" in text
    assert "| `makini:consumers.<name>." in text


def test_generic_over_new_fields_and_sections():
    class Inner(Model):
        """Inner."""

        depth: int = Field(default=3, ge=1, le=9, description="How deep.")

    class Outer(Model):
        mode: Literal["a", "b"] = Field(description="Which mode.")
        inner: tuple[Inner, ...] = Field(default=(), description="Inners.")

    paths = {path: f for path, f in ref.rows(Outer, "makini:")}
    assert set(paths) == {"makini:mode", "makini:inner", "makini:inner[].depth"}
    depth = paths["makini:inner[].depth"]
    assert ref.constraints(depth) == [">= 1", "<= 9"] and ref.default_text(depth) == "`3`"
    assert ref.type_name(paths["makini:mode"].annotation) == '"a" | "b"'


def test_check_mode_fails_on_a_stale_file(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "configuration.md"
    stale.write_text(ref.render().replace("Ownership tags.", "Old text."), encoding="utf-8")
    monkeypatch.setattr(ref, "OUTPUT", stale)
    assert ref.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert ref.main(["--write"]) == 0 and ref.main(["--check"]) == 0


def test_pulumi_yaml_lists_the_keys_and_is_current():
    text = ref.PULUMI_YAML.read_text(encoding="utf-8")
    assert ref.with_pulumi_yaml_block(text) == text, "run python -m infra.config_reference --write"
    for key in StackConfig.model_fields.values():
        assert f"#   makini:{key.alias}:" in text


def test_pulumi_yaml_config_obeys_pulumis_rule_for_other_namespaces():
    """Pulumi refuses a project whose config declares a type or default for a key outside the project's
    namespace, and wants a value for it (pkg/workspace Project.Validate): so makini: keys are not declared."""
    import yaml

    project = yaml.safe_load(ref.PULUMI_YAML.read_text(encoding="utf-8"))
    for key, decl in (project.get("config") or {}).items():
        if ":" in key and not key.startswith(project["name"] + ":"):
            assert isinstance(decl, dict) and "value" in decl and not {"type", "default"} & set(decl), key


def test_the_environment_default_is_documented():
    assert "| `makini:environment` | string | the stack name |" in ref.render()
