"""Text from files users did not write (class names, file names) made safe where it is shown:
terminals (no control characters, so no ANSI escapes or forged lines) and spreadsheet cells
(no leading ``=``, ``+``, ``-``, ``@``, which Excel and LibreOffice run as formulas)."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Mapping

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_GUARD = "'"
FS_NAMES = "surrogateescape"  # how files cam-keras writes hold file names: as the file system has them, UTF-8 or not
# Unicode categories a terminal may obey rather than show: controls (ESC, CR, NUL, C1 such as
# \x9b), format characters (bidi overrides U+202E), surrogates, private use, unassigned, and the
# line and paragraph separators U+2028 and U+2029.
_UNSAFE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def for_terminal(text: str) -> str:
    """``text`` with control, format (bidi overrides), unassigned characters and line or
    paragraph separators (U+2028, U+2029) shown as escapes (``\\x1b``, ``\\n``, ``\\u202e``).

    Example:
        >>> for_terminal("cat\\x1b[31m")
        'cat\\\\x1b[31m'
    """
    return "".join(
        char.encode("unicode_escape").decode("ascii") if unicodedata.category(char) in _UNSAFE else char
        for char in str(text)
    )


class TerminalText(str):
    """Text already made safe for a terminal (by :func:`terminal_lines`), which
    :class:`TerminalFormatter` prints as it is."""


def terminal_lines(items, indent: str = "  ") -> TerminalText:
    """One escaped line per item, each after a newline and ``indent``: a listing to log as one argument.

    Example:
        >>> print("skipped:%s" % terminal_lines(["a\\nb.png", "c.png"]))
        skipped:
          a\\nb.png
          c.png
    """
    return TerminalText("".join(f"\n{indent}{for_terminal(item)}" for item in items))


class TerminalFormatter(logging.Formatter):
    """Logs each argument of a record through :func:`for_terminal` (a file or class name
    cannot draw on the screen or forge a line), while the message template, written in
    cam-keras, keeps its own line breaks."""

    def format(self, record: logging.LogRecord) -> str:
        if isinstance(record.args, Mapping):  # logger.warning("%(name)s", {"name": ...})
            args = {key: _for_log(value) for key, value in record.args.items()}
            record = logging.makeLogRecord({**record.__dict__, "args": args})
        elif record.args:
            record = logging.makeLogRecord({**record.__dict__, "args": tuple(map(_for_log, record.args))})
        else:
            record = logging.makeLogRecord({**record.__dict__, "msg": for_terminal_lines(str(record.msg))})
        return super().format(record)


def _for_log(value: object) -> object:
    """A log argument safe for a terminal: numbers as they are (``%d`` still works)."""
    if isinstance(value, (int, float, TerminalText)):
        return value
    return for_terminal(str(value))


def for_terminal_lines(text: str) -> str:
    """``text`` escaped line by line: its own line breaks kept, nothing else."""
    return "\n".join(for_terminal(line) for line in str(text).split("\n"))


def for_csv_cell(value: object) -> object:
    """A string that a spreadsheet would run as a formula gets a leading ``'``, and so does one
    that starts with ``'`` (so :func:`from_csv_cell` can undo it); other values pass unchanged.

    Example:
        >>> for_csv_cell("=HYPERLINK(1)"), for_csv_cell("'quoted"), for_csv_cell(0.5)
        ("'=HYPERLINK(1)", "''quoted", 0.5)
    """
    if isinstance(value, str) and value.startswith((*_FORMULA_STARTS, _GUARD)):
        return _GUARD + value
    return value


def from_csv_cell(text: str) -> str:
    """The value :func:`for_csv_cell` guarded: what a cell read back from our CSV really holds.

    Example:
        >>> from_csv_cell("'=HYPERLINK(1)"), from_csv_cell("cat")
        ('=HYPERLINK(1)', 'cat')
    """
    return text[1:] if text.startswith(_GUARD) else text
