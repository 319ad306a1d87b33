"""What every command of makini-infra shares: its --help (with the exit codes) and one-line failures."""

from __future__ import annotations

import argparse
import os


def exit_codes(doc: str) -> str:
    """The module doc's "Exit codes: ..." paragraph, as one line."""
    for paragraph in doc.split("\n\n"):
        if paragraph.strip().startswith("Exit codes"):
            return " ".join(paragraph.split())
    raise ValueError("the command's doc names no exit codes")


def make_parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """A parser whose description is the doc's first line and whose epilog lists the exit codes."""
    return argparse.ArgumentParser(prog=prog, description=doc.strip().split("\n\n")[0], epilog=exit_codes(doc))


def unexpected(err: BaseException) -> str:
    """One line for an unexpected failure (no traceback unless MAKINI_DEBUG is set: then re-raise)."""
    if os.environ.get("MAKINI_DEBUG") or os.environ.get("MAKINI_PLAN_DEBUG"):
        raise err
    return f"{type(err).__name__}: {err} (set MAKINI_DEBUG=1 for the traceback)"
