"""Configuration errors: one clear message that names the stack, the key path, what is allowed, and the fix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a stack's configuration.

    ``path`` is the full config key path as the Pulumi CLI spells it (``makini:connections[2].tier``),
    ``message`` says what is wrong and what is allowed, ``fix`` is what to do about it (often a
    ready-to-run ``pulumi config`` command).
    """

    path: str
    message: str
    fix: str = ""


class ConfigError(Exception):
    """A stack's configuration is invalid. Raised before any resource is registered."""

    def __init__(self, stack: str, problems: list[Problem] | tuple[Problem, ...]):
        self.stack = stack
        self.problems = tuple(problems)
        super().__init__(self.render())

    def header(self) -> str:
        n = len(self.problems)
        return f"makini-infra: stack '{self.stack}' has {n} configuration {'error' if n == 1 else 'errors'}:"

    def footer(self) -> str:
        return f"Nothing was created or changed. Edit Pulumi.{self.stack}.yaml (or use the commands above), then run the preview again."

    def render(self) -> str:
        lines = [self.header()]
        for p in self.problems:
            lines.append(f"  {p.path}: {p.message}")
            if p.fix:
                for i, fix_line in enumerate(p.fix.splitlines()):
                    lines.append(("    fix: " if i == 0 else "         ") + fix_line)
        lines.append(self.footer())
        return "\n".join(lines)


class LimitsExceeded(ConfigError):
    """The stack would exceed a cloud's documented hard limit. Raised before any resource is registered.

    Each problem's ``path`` names the resource, its ``message`` the limit, the measured value and where the
    limit is documented, its ``fix`` what to change in the configuration.
    """

    def header(self) -> str:
        n = len(self.problems)
        return (
            f"makini-infra: stack '{self.stack}' would exceed {n} documented cloud limit{'s' if n != 1 else ''} "
            "(the cloud would refuse it during pulumi up):"
        )

    def footer(self) -> str:
        return (
            f"Nothing was created or changed. Edit Pulumi.{self.stack}.yaml as suggested, then run the preview again."
        )
