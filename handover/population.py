"""The population extract (trích xuất dữ liệu dân cư) a batch may match applicants and subjects against.

A CSV file with a header line and three columns: the personal ID, the full name and the birth date (header
names: ``so_dinh_danh``/``id``/``cccd``/``Số định danh``…, ``ho_ten``/``name``/``Họ tên``…, ``ngay_sinh``/
``birth_date``/``Ngày sinh``…). It is read once per batch and process into a dict keyed by the ID whose value is
the birth date (ISO) and the name as UTF-8 bytes: about 155 bytes a row in CPython (measured: 1 million rows
take 155 MB and 4 s to read), in the process that validates.
Its values never leave this module unmasked: findings name what differs, with the extract's name as initials.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from handover.errors import ConfigError
from handover.ids import restore_cccd
from handover.sources.cells import parse_date
from handover.text import clean, fold, tone_key

ID_HEADERS = ("so_dinh_danh", "sodinhdanh", "so dinh danh", "id", "cccd", "so cccd", "ma dinh danh")
NAME_HEADERS = ("ho_ten", "hoten", "ho ten", "ho va ten", "name", "full_name")
BIRTH_HEADERS = ("ngay_sinh", "ngaysinh", "ngay sinh", "birth_date", "dob", "ngay thang nam sinh")


@dataclass(frozen=True)
class Person:
    """One person of the extract: birth date (``YYYY-MM-DD``, or None) and name."""

    birth_date: str | None
    name: str


class Population:
    """The extract as a dict ``ID → b"YYYY-MM-DD\\tname"`` (compact: see the module docstring)."""

    def __init__(self, path: Path, people: dict[str, bytes]) -> None:
        self.path = path
        self._people = people

    def __len__(self) -> int:
        return len(self._people)

    def get(self, person_id: str) -> Person | None:
        """The person with this ID, or None when the extract does not hold it."""
        raw = self._people.get(person_id)
        if raw is None:
            return None
        birth, _, name = raw.decode("utf-8").partition("\t")
        return Person(birth or None, name)


def same_name(a: str, b: str) -> bool:
    """Do two spellings name the same person? Equal on :func:`~handover.text.tone_key` (case, spacing and
    tone-mark placement do not count); a name written without any diacritics matches on
    :func:`~handover.text.fold`."""
    if tone_key(a) == tone_key(b):
        return True
    folded_a, folded_b = fold(a), fold(b)
    plain = folded_a == " ".join(a.lower().split()) or folded_b == " ".join(b.lower().split())
    return plain and folded_a == folded_b


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    for i, h in enumerate(header):
        if fold(h).replace("_", " ") in {n.replace("_", " ") for n in names}:
            return i
    return None


def load_population(path: Path) -> Population:
    """Read the extract at ``path`` (once per process and file version); ConfigError names what is wrong."""
    stat = path.stat() if path.is_file() else None
    if stat is None:
        raise ConfigError(
            f"Population extract '{path}' does not exist.",
            file=str(path),
            hint="Fix [checks] population in the batch configuration (relative to the config file), or remove it.",
        )
    return _load(path, stat.st_mtime_ns, stat.st_size)


@cache
def _load(path: Path, mtime_ns: int, size: int) -> Population:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            cols = [_column(header, names) for names in (ID_HEADERS, NAME_HEADERS, BIRTH_HEADERS)]
            if None in cols:
                raise ConfigError(
                    f"Population extract '{path.name}': the header {header!r} lacks an ID, a name or a birth "
                    "date column.",
                    file=str(path),
                    row=1,
                    hint="Name the columns so_dinh_danh, ho_ten, ngay_sinh (or id, name, birth_date).",
                )
            id_col, name_col, birth_col = cols
            people: dict[str, bytes] = {}
            dates: dict[str, str] = {}  # birth dates repeat: each text parsed once
            width = max(cols) + 1  # type: ignore[type-var]
            for row in reader:
                if len(row) < width:
                    continue
                person_id = row[id_col].strip()  # type: ignore[index]
                if not person_id:
                    continue
                person_id, _ = restore_cccd(person_id)
                text = row[birth_col]  # type: ignore[index]
                birth = dates.get(text)
                if birth is None:
                    birth = dates[text] = parse_date(text) or ""
                name = clean(row[name_col])  # type: ignore[index]
                people.setdefault(person_id, f"{birth}\t{name}".encode())
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(
            f"Cannot read the population extract '{path}': {exc}.",
            file=str(path),
            hint="Save it as UTF-8 CSV with a header line (so_dinh_danh, ho_ten, ngay_sinh).",
        ) from exc
    return Population(path, people)
