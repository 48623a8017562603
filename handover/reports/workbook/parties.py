"""What a handover record prints besides its rows: the parties (:class:`RecordParties`), its number and title,
and for a later round of the same sources the supplement it is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from handover.reports.cells import safe_text
from handover.reports.queries.batch import BatchInfo
from handover.reports.queries.rounds import Round, UnitRound
from handover.text import ascii_slug

HANDOVER_TITLE = "BIÊN BẢN BÀN GIAO HỒ SƠ ĐANG GIẢI QUYẾT"
# a later round's record to a unit that signed an earlier one: what this batch newly hands over, numbered after
# the first record ("<first record's number>-BS1" for the first supplement)
SUPPLEMENT_TITLE = "BIÊN BẢN BÀN GIAO BỔ SUNG HỒ SƠ ĐANG GIẢI QUYẾT"
SUPPLEMENT_SUFFIX = "BS"
RECORD_NUMBER_SUFFIX = "BB-BGHS"  # "Số: <batch>-<commune code>/BB-BGHS"


@dataclass(frozen=True)
class RecordParties:
    """What the handover records print besides the data: the batch, the place, the date and time (local), and
    the representatives of both sides (name, position; empty: a blank to fill by hand)."""

    batch_id: str
    when: datetime | None  # local time (Asia/Ho_Chi_Minh) the batch ran
    place: str = ""
    giving: tuple[str, str] = ("", "")
    receiving: tuple[str, str] = ("", "")
    communes: tuple[tuple[str, tuple[str, str]], ...] = ()
    departments: tuple[tuple[str, tuple[str, str]], ...] = ()  # by the ASCII slug of the department's name
    # a later round of its sources (:func:`with_rounds`): the records list only what the batch newly hands over
    new_only: bool = False
    rounds: tuple[UnitRound, ...] = ()  # what the batch hands over to each unit, and which hand-over it is

    def receiver(self, code: str | None) -> tuple[str, str]:
        """The receiving side's representative (name, position) for commune ``code``, or for a department's
        code (:func:`~handover.reports.queries.loaded.department_code`): the one given for its name, else blanks
        (``receiving`` is the communes' default)."""
        code = code or ""
        if "-" in code:
            return dict(self.departments).get(code.split("-", 1)[1], ("", ""))
        return dict(self.communes).get(code, self.receiving)

    def supplement(self, code: str | None) -> UnitRound | None:
        """The batch's hand-over to unit ``code`` when it is not the unit's first (its record supplements the
        first one), else None."""
        unit = self._rounds.get(code)
        return unit if unit is not None and unit.round > 1 else None

    @cached_property
    def _rounds(self) -> dict[str | None, UnitRound]:
        return {u.code: u for u in self.rounds}


def record_parties(info: BatchInfo, parties: Any = None) -> RecordParties:
    """:class:`RecordParties` of a batch from its facts and the ``[report.parties]`` settings
    (:class:`handover.parties.PartiesConfig`, or ``None``: blanks). The date is the batch's start, in local time."""
    started = local_time(info.started_at)
    if parties is None:
        return RecordParties(info.batch_id, started)

    def pair(rep: Any) -> tuple[str, str]:
        return ((safe_text(rep.name) or "").strip(), (safe_text(rep.position) or "").strip())

    return RecordParties(
        info.batch_id,
        started,
        (safe_text(parties.place) or "").strip(),
        pair(parties.giving),
        pair(parties.receiving),
        tuple(sorted((code, pair(rep)) for code, rep in parties.communes.items())),
        tuple(sorted((ascii_slug(name), pair(rep)) for name, rep in parties.departments.items())),
    )


def local_time(when: Any) -> Any:
    """A time of the target (naive UTC) in Vietnam's time (Asia/Ho_Chi_Minh), naive; anything else as it is."""
    from handover.sources.cells import LOCAL_TZ

    if when is None or not isinstance(when, datetime):
        return when
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)  # the target holds naive UTC
    return aware.astimezone(LOCAL_TZ).replace(tzinfo=None)


def record_number(batch_id: str, code: str | None) -> str:
    """The handover record's number: the batch and the receiving commune's code."""
    return f"{batch_id}-{code or '00000'}/{RECORD_NUMBER_SUFFIX}"


def round_record_number(unit: UnitRound) -> str:
    """The number of a batch's record to a unit: :func:`record_number` of the unit's first hand-over, and for
    the k-th hand-over (k ≥ 2) the supplement's rank after it, ``…/BB-BGHS-BS1`` for the first supplement."""
    first = record_number(unit.first_batch, unit.code)
    return first if unit.round < 2 else f"{first}-{SUPPLEMENT_SUFFIX}{unit.round - 1}"


def with_rounds(parties: RecordParties, rounds: Sequence[Round]) -> RecordParties:
    """``parties`` with the batch's round (the last of :func:`~handover.reports.queries.rounds.handover_rounds`): after
    earlier rounds of its sources, its records list only what it newly hands over, and a unit's record is a
    supplement when the unit received an earlier one."""
    if not rounds:
        return parties
    return replace(parties, new_only=len(rounds) > 1, rounds=rounds[-1].units)


def record_title(parties: RecordParties, code: str | None) -> str:
    """The heading of the record to unit ``code``: the handover record, or the supplementary one."""
    return SUPPLEMENT_TITLE if parties.supplement(code) else HANDOVER_TITLE


def unit_record_number(parties: RecordParties, code: str | None) -> str:
    """The number printed on the batch's record to unit ``code`` (:func:`round_record_number`)."""
    unit = parties.supplement(code)
    return round_record_number(unit) if unit else record_number(parties.batch_id, code)


def supplement_lines(parties: RecordParties, code: str | None) -> tuple[str, str] | None:
    """For a supplementary record: the line under its heading naming the record it supplements, and the note
    above the signatures binding the two; None for a first record."""
    unit = parties.supplement(code)
    if unit is None:
        return None
    first = record_number(unit.first_batch, unit.code)
    when = local_time(unit.first_started_at)
    dated = f", lập ngày {when:%d/%m/%Y}" if isinstance(when, datetime) else ""
    return (
        f"(Bổ sung lần thứ {unit.round - 1} cho Biên bản bàn giao số {first}{dated})",
        f"Biên bản này bổ sung và là bộ phận không tách rời của Biên bản bàn giao số {first}{dated}; các hồ sơ "
        "đã bàn giao theo biên bản đó và các biên bản bổ sung trước không ghi lại ở đây.",
    )
