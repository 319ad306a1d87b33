"""Code packages for the AWS Lambda functions (webhook receiver, Secrets Manager rotation).

The Lambda counterpart of :class:`components.azure.function_package.FunctionPackageSpec`: one spec per
function says which files of ``functions/<package>/`` it runs, its handler and its runtime, and the
archive holds exactly those files under ``<package>/`` (see :mod:`components.packaging`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi

from ..packaging import FUNCTIONS_DIR, archive, module_files


@dataclass(frozen=True)
class LambdaPackage:
    """Which files of ``functions/<package>/`` one Lambda runs, and how the runtime calls it."""

    package: str
    #: The handler's import closure (the package ``__init__`` included); nothing else is shipped.
    modules: tuple[str, ...]
    runtime: str = "python3.13"

    @property
    def handler(self) -> str:
        return f"{self.package}.aws_lambda.handler"

    @property
    def source(self) -> Path:
        """The package's folder in the source tree."""
        return FUNCTIONS_DIR / self.package

    def files(self, source: Path | None = None) -> dict[str, Path]:
        """Archive path -> file: the handler's modules under ``<package>/`` and nothing else."""
        return module_files(source or self.source, self.package, self.modules)

    def archive(self) -> pulumi.AssetArchive:
        return archive(self.files())


#: The webhook receiver: aws_lambda -> core (the package ``__init__`` is import-free).
RECEIVER_LAMBDA = LambdaPackage(package="webhook_receiver", modules=("__init__.py", "aws_lambda.py", "core.py"))
#: Token rotation: aws_lambda -> makini_client, backoff, jsonlog, token_lifetime.
ROTATION_LAMBDA = LambdaPackage(
    package="rotation",
    modules=("__init__.py", "aws_lambda.py", "backoff.py", "jsonlog.py", "makini_client.py", "token_lifetime.py"),
)
