"""The one parser per value kind: numbers, angles, dates and coordinate pairs as tables hold them.

Every command reads cells through these functions, so what ``check`` accepts every
command accepts. Each reads a whole column (each distinct text once) and returns
the values with a mask of the cells that could not be read, so that a caller can
name every row:

- :func:`parse_numbers` (:mod:`.numbers`): full-width digits, thousands
  separators, units;
- :func:`parse_angles` (:mod:`.angles`): decimal or degree-minute-second;
- :func:`parse_date`, :func:`parse_dates`, :func:`date_of`, :func:`find_dates`
  (:mod:`.dates`): date cells, Excel serials, text, month-day without a year;
- :func:`parse_pairs` (:mod:`.pairs`): both coordinates of a point in one cell,
  in every written form (decimal, DMS, labelled, latitude first, projected X/Y).
"""

from riskmap.load.values.angles import parse_angles
from riskmap.load.values.dates import clean_text, date_of, find_dates, parse_date, parse_dates
from riskmap.load.values.numbers import parse_numbers
from riskmap.load.values.pairs import Pairs, parse_pairs

__all__ = ["Pairs", "clean_text", "date_of", "find_dates", "parse_angles", "parse_date",
           "parse_dates", "parse_numbers", "parse_pairs"]
