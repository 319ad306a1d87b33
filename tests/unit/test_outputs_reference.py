"""docs/outputs.md is generated from stacks/outputs.py and must be current."""

from __future__ import annotations

from infra import outputs_reference as ref
from stacks.outputs import OUTPUTS


def test_committed_reference_is_current():
    committed = ref.OUTPUT.read_text(encoding="utf-8") if ref.OUTPUT.exists() else ""
    assert committed == ref.render(), "docs/outputs.md is stale: run python -m infra.outputs_reference --write"


def test_every_output_has_a_row():
    text = ref.render()
    assert all(f"| `{o.name}` |" in text for o in OUTPUTS)


def test_check_fails_on_a_stale_file(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "outputs.md"
    stale.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr(ref, "OUTPUT", stale)
    assert ref.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert ref.main(["--write"]) == 0 and ref.main(["--check"]) == 0
