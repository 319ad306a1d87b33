"""Which hand-issued secrets need attention: the reminder that works on every backend.

    python -m infra.due [STACK ...] [--today YYYY-MM-DD]

Reads each stack's ``Pulumi.<stack>.yaml`` (all of them when none is named), computes its rotation
calendar for today (UTC) and lists every secret whose reminder date has come (``reminder-due``), that
is past its maximum age (``overdue``), or whose issue date is not recorded (``unknown``: no reminder
can fire). A NetSuite M2M certificate is dated by ``makini:connections[i].netsuite.certificateNotAfter`` (the
stack output ``netsuiteCertificateNotAfter`` (key ``<key>``), recorded after ``pulumi up``): due from its renew-by date,
overdue after it expires, and ``UNDATED`` (a failure too) while the date is not recorded. The scheduled workflow ``.github/workflows/reminders.yml`` runs it daily, so a stack on
Azure or Vault alone (where no AWS reminder schedule exists) still gets its reminder: a failed run.

Exit codes: 0 nothing due; 3 something is due or overdue (and every stack valid); 2 a stack file is
unreadable or invalid (named on stderr; the other stacks are still checked and listed); 1 a stack could
not be checked for another reason. Secret values are never read.
"""

from __future__ import annotations

import sys
from datetime import date
from typing import TextIO

from stacks import clock
from stacks.catalog import SecretKind
from stacks.config import ConfigError
from stacks.rotation import Mode, Status, calendar

from .cli import make_parser, unexpected
from .offline import PROJECT_ROOT, StackFileError, load_stack_file

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_DUE = 0, 1, 2, 3
ATTENTION = (Status.REMINDER_DUE, Status.OVERDUE)


def all_stacks() -> list[str]:
    return sorted(p.name.split(".")[1] for p in PROJECT_ROOT.glob("Pulumi.*.yaml"))


def main(argv: list[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    parser = make_parser("python -m infra.due", __doc__ or "")
    parser.add_argument("stacks", nargs="*", help="stack names (default: every Pulumi.<stack>.yaml)")
    parser.add_argument("--today", type=date.fromisoformat, help="evaluate as of this date (default: today, UTC)")
    args = parser.parse_args(argv)
    today = args.today or clock.utc_today()
    due = invalid = failed = 0
    for stack in args.stacks or all_stacks():
        try:
            cfg = load_stack_file(stack).load()
            entries = calendar(cfg, today)
        except ConfigError as e:
            print(str(e), file=err)
            invalid += 1
            continue
        except StackFileError as e:
            print(f"makini-infra: {stack}: {e}", file=err)
            invalid += 1
            continue
        except Exception as e:  # noqa: BLE001 - one line per stack, and go on to the others
            print(f"makini-infra: {stack}: could not check: {unexpected(e)}", file=err)
            failed += 1
            continue
        for entry in entries:
            if entry.mode is not Mode.MANUAL_WITH_REMINDER:
                continue
            if entry.status in ATTENTION:
                due += 1
                print(f"{entry.status.value.upper()}: {stack} {entry.path}: {entry.note}", file=out)
            elif entry.status is Status.UNKNOWN and entry.kind is SecretKind.NETSUITE_M2M_KEY:
                # An undated certificate expires unannounced (NetSuite then refuses the connection): a failure.
                due += 1
                print(f"UNDATED: {stack} {entry.path}: {entry.note}", file=out)
            elif entry.status is Status.UNKNOWN:
                print(f"no reminder possible: {stack} {entry.path}: {entry.note}", file=out)
    if invalid:
        return EXIT_INVALID
    if failed:
        return EXIT_FAILED
    if due:
        print(f"{due} secret(s) need rotating or dating; see docs/operations.md, 'Rotating'.", file=out)
        return EXIT_DUE
    print(f"Nothing due as of {today.isoformat()}.", file=out)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
