"""The Azure Functions' dependencies are the program's lock: the same versions as uv.lock, every one with its
hashes, and a vendored dependencies folder that holds anything else is refused.

The expected versions and hashes come from ``uv export`` (uv's own reading of uv.lock), not from the code
under test."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from components.azure.function_lock import (
    LockError,
    check_installed,
    locked_requirements,
    normalize,
    requirements_text,
)
from components.azure.function_package import PYTHON_VERSION, RECEIVER_PACKAGE, ROTATION_PACKAGE, package_files

ROOT = Path(__file__).resolve().parents[2]
SPECS = {"webhook_receiver": RECEIVER_PACKAGE, "rotation": ROTATION_PACKAGE}


def _uv_export() -> dict[str, list[tuple[str, str, set[str]]]]:
    """name -> [(version, marker, hashes)] from ``uv export`` of the whole lock (all groups)."""
    uv = shutil.which("uv")
    assert uv is not None, "uv is how this project is installed (README)"
    text = subprocess.run(
        [uv, "export", "--frozen", "--all-groups", "--no-emit-project", "--format", "requirements-txt"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    out: dict[str, list[tuple[str, str, set[str]]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text.replace("\\\n", " ")):
        head = block.strip()
        if not head or head.startswith("#"):
            continue
        m = re.match(r"([A-Za-z0-9_.\-\[\],]+)==(\S+)\s*(?:;\s*([^-]*?))?\s*(--hash.*)?$", head, re.S)
        assert m, head
        name = normalize(m.group(1).split("[")[0])
        hashes = set(re.findall(r"--hash=(\S+)", m.group(4) or ""))
        out.setdefault(name, []).append((m.group(2), (m.group(3) or "").strip(), hashes))
    return out


def _requirements(text: str) -> dict[str, tuple[str, set[str]]]:
    out = {}
    for block in re.split(r"\n(?=[a-z0-9])", text.replace("\\\n", " ")):
        block = block.strip()
        if not block or block.startswith("#"):
            continue
        m = re.match(r"([a-z0-9\-]+)==(\S+)((?:\s+--hash=\S+)+)$", block)
        assert m, f"not an exact, hashed requirement: {block!r}"
        out[m.group(1)] = (m.group(2), set(re.findall(r"--hash=(\S+)", m.group(3))))
    return out


@pytest.mark.parametrize("package", sorted(SPECS))
def test_the_package_requirements_pin_uv_locks_versions_with_every_hash(package):
    shipped = _requirements(str(package_files(SPECS[package])["requirements.txt"]))
    export = _uv_export()
    for name, (version, hashes) in shipped.items():
        candidates = [(v, marker, h) for v, marker, h in export[name] if v == version]
        assert candidates, f"{name}=={version} is not the version uv.lock holds ({export[name]})"
        # for the Functions' Python (3.11): where the lock splits by Python version, it is the <3.13 one
        assert all(">= '3.13'" not in marker for _, marker, _ in candidates), (name, candidates)
        assert hashes == candidates[0][2], name
    # the top-level imports are all there, and so is their closure (pip --require-hashes needs every one)
    assert set(SPECS[package].requirements) <= set(shipped)
    assert {"azure-core", "typing-extensions"} <= set(shipped)


def test_the_closure_follows_extras_and_markers():
    names = {p.name for p in locked_requirements(["azure-identity"], PYTHON_VERSION)}
    assert {"msal", "pyjwt", "cryptography", "cffi", "pycparser"} <= names  # pyjwt[crypto], CPython-only cffi
    assert "azure-functions" not in names and "pytest" not in names


def _install(root: Path, packages) -> None:
    for p in packages:
        info = root / f"{p.name.replace('-', '_')}-{p.version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {p.name}\nVersion: {p.version}\n")
        (root / p.name.replace("-", "_")).mkdir(exist_ok=True)
        (root / p.name.replace("-", "_") / "__init__.py").write_text("")


def test_a_folder_of_exactly_the_locked_versions_is_packaged(tmp_path):
    locked = locked_requirements(ROTATION_PACKAGE.requirements, PYTHON_VERSION)
    _install(tmp_path / "rotation", locked)
    files = package_files(ROTATION_PACKAGE, tmp_path / "rotation")
    assert (
        f".python_packages/lib/site-packages/azure_identity-{dict((p.name, p.version) for p in locked)['azure-identity']}.dist-info/METADATA"
        in files
    )


@pytest.mark.parametrize("defect", ["missing", "other-version", "extra"])
def test_a_folder_that_differs_from_the_lock_is_refused(tmp_path, defect):
    locked = list(locked_requirements(RECEIVER_PACKAGE.requirements, PYTHON_VERSION))
    if defect == "missing":
        locked = [p for p in locked if p.name != "azure-servicebus"]
    elif defect == "other-version":
        locked = [p if p.name != "azure-functions" else type(p)(p.name, "2.3.0", p.hashes) for p in locked]
    else:
        locked.append(type(locked[0])("requests-oauthlib", "2.0.0", ("sha256:00",)))
    _install(tmp_path / "dir", locked)
    with pytest.raises(LockError) as err:
        package_files(RECEIVER_PACKAGE, tmp_path / "dir")
    named = {
        "missing": "azure-servicebus missing",
        "other-version": "azure-functions 2.3.0 installed, 1.26.0 locked",
        "extra": "requests-oauthlib 2.0.0 installed but not locked",
    }[defect]
    assert named in str(err.value) and str(tmp_path / "dir") in str(err.value)


def test_check_installed_refuses_an_empty_folder(tmp_path):
    with pytest.raises(LockError, match="azure-core missing"):
        check_installed(tmp_path, locked_requirements(["azure-core"], PYTHON_VERSION))


def test_requirements_text_is_one_exact_hashed_line_per_package():
    text = requirements_text(locked_requirements(["isodate"], PYTHON_VERSION), header="locked")
    assert text.startswith("# locked\nisodate==") and text.count("--hash=sha256:") >= 1
