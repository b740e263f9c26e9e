"""Text from files users did not write (class names, file names) made safe where it is shown:
terminals (no control characters, so no ANSI escapes or forged lines) and spreadsheet cells
(no leading ``=``, ``+``, ``-``, ``@``, which Excel and LibreOffice run as formulas)."""

from __future__ import annotations

import unicodedata

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def for_terminal(text: str) -> str:
    """``text`` with control characters shown as escapes (``\\x1b``, ``\\n``).

    Example:
        >>> for_terminal("cat\\x1b[31m")
        'cat\\\\x1b[31m'
    """
    return "".join(
        char.encode("unicode_escape").decode("ascii") if unicodedata.category(char)[0] == "C" else char
        for char in str(text)
    )


def for_csv_cell(value: object) -> object:
    """A string that a spreadsheet would run as a formula gets a leading ``'``; other values
    pass unchanged.

    Example:
        >>> for_csv_cell("=HYPERLINK(1)"), for_csv_cell(0.5)
        ("'=HYPERLINK(1)", 0.5)
    """
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value
