"""The ISO week, the rhythm of the field loop (``2026-W49``, Monday to Sunday)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from riskmap.errors import RiskmapError

__all__ = ["Week"]

_WEEK = re.compile(r"(\d{4})\s*(?:-?\s*[Ww]\s*|年\s*第?\s*|-)(\d{1,2})\s*周?")


@dataclass(frozen=True, order=True)
class Week:
    """An ISO week (Monday to Sunday), the rhythm of the patrol plan."""

    year: int
    week: int

    @classmethod
    def parse(cls, text) -> Week:
        """Read ``2026-W49`` (also ``2026W49``, ``2026-49``, ``2026年第49周``).

        Raises
        ------
        RiskmapError
            If the text is not a week or the week does not exist in that year.
        """
        if isinstance(text, Week):
            return text
        s = unicodedata.normalize("NFKC", str(text)).strip()
        m = _WEEK.fullmatch(s)
        if not m:
            raise RiskmapError(f"周次 {text!r} 无法识别 (not a week); write it like 2026-W49")
        year, week = int(m[1]), int(m[2])
        try:
            dt.date.fromisocalendar(year, week, 1)
        except ValueError:
            raise RiskmapError(f"周次 {text!r}: {year} 年没有第 {week} 周 (no such ISO week)"
                               ) from None
        return cls(year, week)

    @classmethod
    def find(cls, text: str) -> Week | None:
        """The first week written anywhere in ``text`` (a title row), else None."""
        s = unicodedata.normalize("NFKC", str(text))
        for m in re.finditer(r"(\d{4})-?W(\d{1,2})", s, flags=re.IGNORECASE):
            try:
                return cls.parse(f"{m[1]}-W{m[2]}")
            except RiskmapError:
                continue
        return None

    @classmethod
    def of(cls, day: dt.date) -> Week:
        """The ISO week holding ``day``."""
        y, w, _ = day.isocalendar()
        return cls(y, w)

    @property
    def monday(self) -> dt.date:
        """First day of the week."""
        return dt.date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> dt.date:
        """Last day of the week."""
        return dt.date.fromisocalendar(self.year, self.week, 7)

    def shift(self, n: int) -> Week:
        """The week ``n`` weeks later (earlier for negative ``n``)."""
        return Week.of(self.monday + dt.timedelta(weeks=n))

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"
