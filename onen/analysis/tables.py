"""Tables for the book: HTML in a notebook (and so in the built pages), aligned plain text in a terminal."""

from __future__ import annotations

import html
from collections.abc import Sequence


class Table:
    """A header and rows of already formatted cells; numbers are right-aligned. ``caption`` goes above the table,
    ``notes`` (a legend, one line each) below it."""

    def __init__(self, header: Sequence[str], rows: Sequence[Sequence[object]], caption: str | None = None,
                 notes: Sequence[str] = ()) -> None:
        if any(len(row) != len(header) for row in rows):
            raise ValueError(f"every row needs {len(header)} cells")
        self.header = [str(h) for h in header]
        self.rows = [[str(c) for c in row] for row in rows]
        self.caption = caption
        self.notes = [str(n) for n in notes]

    @staticmethod
    def _numeric(cell: str) -> bool:
        try:
            float(cell.replace("±", "").split()[0].rstrip("%"))
            return True
        except (ValueError, IndexError):
            return False

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = "".join(
            "<tr>" + "".join(f'<td style="text-align:{"right" if self._numeric(c) else "left"}">{html.escape(c)}</td>'
                             for c in row) + "</tr>" for row in self.rows)
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        notes = "<br>".join(html.escape(n) for n in self.notes)
        foot = (f'<tfoot><tr><td colspan="{len(self.header)}" style="text-align:left;font-size:85%">{notes}</td></tr>'
                "</tfoot>" if self.notes else "")
        return (f'<table class="onen-table">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody>{foot}'
                "</table>")

    def __str__(self) -> str:
        widths = [max(len(r[i]) for r in [self.header, *self.rows]) for i in range(len(self.header))]
        lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in [self.header, *self.rows]]
        return "\n".join(([self.caption] if self.caption else []) + lines + self.notes)

    __repr__ = __str__  # the notebook's text/plain output: the same on every run
