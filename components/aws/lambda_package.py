"""Code packages for the AWS Lambda functions (webhook receiver, Secrets Manager rotation).

The Lambda counterpart of :class:`components.azure.function_package.FunctionPackageSpec`: one spec per
function says which files of ``functions/<package>/`` it runs, its handler and its runtime, and the
archive holds exactly those files under ``<package>/`` (see :mod:`components.packaging`).
"""

from __future__ import annotations

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

    def archive(self) -> pulumi.AssetArchive:
        return archive(self.files())


#: The webhook receiver: aws_lambda and the verification modules it imports (the package ``__init__`` is
#: import-free), and the shared JSON logger.
RECEIVER_LAMBDA = LambdaPackage(
    package="webhook_receiver",
    modules=("__init__.py", "aws_lambda.py", *RECEIVER_CORE_MODULES),
    shared=("jsonlog.py",),
)
#: Token rotation: aws_lambda -> makini_client, backoff, token_lifetime, and the shared JSON logger.
ROTATION_LAMBDA = LambdaPackage(
    package="rotation",
    modules=("__init__.py", "aws_lambda.py", "backoff.py", "makini_client.py", "token_lifetime.py"),
    shared=("jsonlog.py",),
)
