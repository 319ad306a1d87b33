"""Code packages for the AWS Lambda functions (webhook receiver, Secrets Manager rotation, run-time secrets' keeper).

The Lambda counterpart of :class:`components.azure.function_package.FunctionPackageSpec`: one spec per
function says which files of ``functions/<package>/`` it runs, its handler and its runtime, and the
archive holds exactly those files under ``<package>/`` (see :mod:`components.packaging`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi

from ..packaging import FUNCTIONS_DIR, RECEIVER_CORE_MODULES, archive, runtime_files


@dataclass(frozen=True)
class LambdaPackage:
    """Which files of ``functions/<package>/`` one Lambda runs, and how the runtime calls it."""

    package: str
    #: The handler's import closure in its package (the package ``__init__`` included).
    modules: tuple[str, ...]
    #: The modules of ``functions/shared/`` it imports; nothing else is shipped.
    shared: tuple[str, ...] = ()
    runtime: str = "python3.13"

    @property
    def handler(self) -> str:
        return f"{self.package}.aws_lambda.handler"

    @property
    def source(self) -> Path:
        """The package's folder in the source tree."""
        return FUNCTIONS_DIR / self.package

    def files(self, source_root: Path = FUNCTIONS_DIR) -> dict[str, Path]:
        """Archive path -> file: the handler's modules under ``<package>/``, the shared ones under
        ``functions/shared/``, and nothing else."""
        return runtime_files(self.package, self.modules, self.shared, source_root)

    def archive(self, generated: Mapping[str, str] | None = None) -> pulumi.AssetArchive:
        """The handler's files, plus ``generated`` (archive path -> text the program wrote for this deployment,
        e.g. ``rotation/bindings.json``)."""
        files: dict[str, Path | str] = dict(self.files())
        for name, text in (generated or {}).items():
            if name in files:
                raise ValueError(f"{self.package}: generated file {name} would replace a source file")
            files[name] = text
        return archive(files)


#: The webhook receiver: aws_lambda and the verification modules it imports (the package ``__init__`` is
#: import-free), and the shared JSON logger.
RECEIVER_LAMBDA = LambdaPackage(
    package="webhook_receiver",
    modules=("__init__.py", "aws_lambda.py", *RECEIVER_CORE_MODULES),
    shared=("jsonlog.py",),
)
#: Token rotation: aws_lambda -> makini_client, backoff, token_lifetime, bindings, and the shared JSON logger.
#: The program adds the deployment's ``rotation/bindings.json`` (:data:`BINDINGS_FILE`).
ROTATION_LAMBDA = LambdaPackage(
    package="rotation",
    modules=(
        "__init__.py",
        "aws_lambda.py",
        "backoff.py",
        "bindings.py",
        "makini_client.py",
        "oauth_client.py",
        "token_lifetime.py",
    ),
    shared=("jsonlog.py", "names.py"),
)
#: Where the rotation packages carry the deployment's bindings (functions/rotation/bindings.py, PACKAGED_FILE).
BINDINGS_FILE = "rotation/bindings.json"
#: The keeper of run-time secrets: aws_lambda -> governance, and the shared JSON logger. The program adds the
#: deployment's ``keeper/settings.json`` (components.aws.keeper_policies.KEEPER_SETTINGS_FILE).
KEEPER_LAMBDA = LambdaPackage(
    package="keeper",
    modules=("__init__.py", "aws_lambda.py", "governance.py"),
    shared=("jsonlog.py", "names.py"),
)
