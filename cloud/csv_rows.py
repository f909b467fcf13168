"""A CSV file read whole or refused whole, the row and column at fault named: what every import
of the cloud shares (the console's products and listings, the API's buying master data).

- **Encoding**: UTF-8, with or without the byte-order mark Excel writes ("CSV UTF-8"). Another
  encoding is refused with the way to save it right, not guessed: GB18030 decodes almost any bytes,
  so a guess would store garbled names without a word.
- **Rows** are numbered as the spreadsheet shows them: the header is row 1; blank rows are skipped.
- **Columns** are named in the header, in any order (case and spaces around ignored); an unknown
  or repeated column is refused (a misspelt "unit cost" would otherwise be dropped silently).
- **Cells** with a NUL character are refused (Python's csv module reads them; PostgreSQL refuses
  them in text, so the save would fail after the checks).

The stdlib csv module reads (RFC 4180 quoting, which Excel and WPS write). Each importer checks
the cells of a row with the API's own schema for it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Final

MAX_ROWS: Final = 50_000


class CsvRefused(ValueError):
    """The file is refused whole: `row` (1 = the header; None: the file itself) and `field` say where."""

    def __init__(self, problem: str, row: int | None = None, field: str | None = None) -> None:
        where = ", ".join(p for p in (f"row {row}" if row is not None else "",
                                      f"{field}" if field else "") if p)
        super().__init__(f"{where}: {problem}" if where else problem)
        self.row, self.field, self.problem = row, field, problem


def text_of(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CsvRefused(f"the file is not UTF-8 (byte {e.start + 1}): in Excel save it as "
                         "\"CSV UTF-8 (comma delimited)\"") from None


def rows(data: bytes, columns: Sequence[str],
          required: Sequence[str]) -> Iterable[tuple[int, dict[str, str]]]:
    """(row number, {column: cell}) for each non-blank row, after checking the header."""
    reader = csv.reader(io.StringIO(text_of(data), newline=""))
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise CsvRefused(f"the file is empty: its first row names the columns ({', '.join(columns)})", 1)
        names = [h.strip().lower() for h in header]
        for i, name in enumerate(names):
            if name not in columns:
                raise CsvRefused(f"unknown column {header[i].strip()!r}; known: {', '.join(columns)}", 1,
                                 header[i].strip() or f"column {i + 1}")
            if names.index(name) != i:
                raise CsvRefused(f"column {name!r} is named twice", 1, name)
        for name in required:
            if name not in names:
                raise CsvRefused("is a required column", 1, name)
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if number > MAX_ROWS + 1:
                raise CsvRefused(f"more than {MAX_ROWS:,} rows: split the file", number)
            if len(cells) > len(names):
                raise CsvRefused(f"{len(cells)} cells where the header names {len(names)} columns", number)
            row = {n: (cells[i].strip() if i < len(cells) else "") for i, n in enumerate(names)}
            for name, cell in row.items():
                if "\x00" in cell:  # no text has one, and PostgreSQL refuses it in text
                    raise CsvRefused("a NUL character is in this cell: is the file a spreadsheet, not CSV "
                                     "text?", number, name)
            yield number, row
    except csv.Error as e:
        raise CsvRefused(f"not a CSV file: {e}", reader.line_num or None) from None
