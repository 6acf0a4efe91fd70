"""CSV files that are safe to open in a spreadsheet (formula injection, OWASP's rule).

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some,
one that starts with a tab or a carriage return followed by such a character) as a
formula. Every CSV the service writes goes through ``writer()``, which prefixes such a
*text* cell with a single quote: spreadsheets then show it as text, and a program reading
the file can drop the quote to get the stored value back.

Only strings are text. The figures the service produces itself (quantities, balances,
ids, rates: ``int``, ``Decimal``, ``float``) are passed as numbers and written as they
are, so a negative quantity stays the number -3. Callers must therefore never format a
figure into a string before writing it, and must pass every user-supplied value (names,
skus, references, notes, reasons, error messages) as a string.
"""

import csv
from collections.abc import Iterable
from typing import Any

# OWASP "CSV Injection": cells starting with these are read as formulas.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """``value`` with a leading ``'`` if it is text that a spreadsheet would run."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class _Line:
    """A file whose write() hands the formatted line back."""

    def write(self, line: str) -> str:
        return line


class SafeWriter:
    """``csv.writer``'s ``writerow``/``writerows``, with every text cell neutralised.

    Rows are formatted with a CRLF terminator whatever ``lineterminator`` the caller asks
    for, then given that one: the csv module quotes only the cells that hold a character
    of the terminator, and an unquoted carriage return inside a cell (with ``"\n"`` lines)
    starts a new row in a spreadsheet, one that could begin with a formula."""

    def __init__(self, file, *, lineterminator: str = "\r\n", **options) -> None:
        self._file = file
        self._terminator = lineterminator
        self._format = csv.writer(_Line(), lineterminator="\r\n", **options)

    def writerow(self, row: Iterable[Any]):
        line = self._format.writerow([neutralise(value) for value in row])
        return self._file.write(line[:-2] + self._terminator)

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(file, **options) -> SafeWriter:
    """A ``csv.writer(file, **options)`` whose text cells cannot start a formula."""
    return SafeWriter(file, **options)
