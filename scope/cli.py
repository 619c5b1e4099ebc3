"""`scope` command line: one module per subcommand, errors mapped to exit codes."""
from __future__ import annotations

import argparse
import re
import sys

from .commands import COMMANDS
from .errors import ScopeError, UsageError
from .text import shown
from .version import version

# an argument that starts with '-' but reads as a number ('-1', '-1e5', '-.5',
# '-inf', '-nan', '-2s'): argparse would take it for an unknown option and say
# "expected one argument"; as a value, the option's own type says what is
# wrong with it (a time before the start, a negative count) and what to give
_NUMBER_LIKE = re.compile(r"-(?:\.?[0-9]|inf|nan)", re.IGNORECASE)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2, and a
    value that looks like a negative number is a value (no option of scope's
    looks like one)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # argparse's own test for "a negative number, so an argument" (used as
        # .match on each argument, Python 3.11 to 3.14), made wider
        self._negative_number_matcher = _NUMBER_LIKE

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}", f"see `{self.prog} --help`")


def build_parser() -> Parser:
    parser = Parser(prog="scope", description="Record and explore what a Python process does.")
    parser.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version=f"scope {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.help, description=command.help)
        command.prepare_parser(p)
        p.set_defaults(_command=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "_command", None):
            raise UsageError("no command given", "try `scope doctor`, `scope run -- python3.11 app.py` "
                             "or `scope --help`")
        return int(args._command.run(args) or 0)
    except ScopeError as exc:
        if debug:
            raise
        print(f"scope: error: {shown(exc.line())}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("scope: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug of ours: still one line, the traceback on request
        if debug:
            raise
        print(f"scope: internal error: {type(exc).__name__}: {shown(str(exc))}; rerun with --debug for "
              "the traceback and report it", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
