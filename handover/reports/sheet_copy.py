"""Sheets of a saved workbook copied into a workbook of their own, their rendered parts unchanged.

:class:`SavedBook` opens a saved ``.xlsx`` and finds each sheet's part by its name (``xl/workbook.xml`` and its
relationships ``xl/_rels/workbook.xml.rels``); :meth:`SavedBook.copy` writes a new package holding only the
sheets asked for. Each sheet part (``xl/worksheets/sheetN.xml``) is copied byte for byte, streamed, with the
workbook's styles part (``xl/styles.xml``: the cells' ``s`` indexes keep their meaning), its shared strings and
theme when it has them, and its document properties (``docProps/core.xml``, ``docProps/app.xml``: they describe
the document, not its sheets). The package's other parts are written here against the published format
(ECMA-376 Part 1 §18.2 workbook, Part 2 Open Packaging Conventions): ``[Content_Types].xml``, ``_rels/.rels``,
``xl/workbook.xml`` with the sheets under their new names and their sheet-local defined names (the print titles
``_xlnm.Print_Titles``) pointing at the new names and positions, and ``xl/_rels/workbook.xml.rels``.

A sheet with relationships of its own (comments, drawings, hyperlinks to parts) is refused
(:class:`SheetCopyError`): its parts are not copied.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import zipfile
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree
from xml.sax.saxutils import escape, quoteattr

__all__ = ["SavedBook", "SheetCopyError"]

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CONTENT_TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"
_OFFICE_TYPE = "application/vnd.openxmlformats-officedocument"
_SHARED = {  # the workbook's parts every sheet may refer to: relationship type → content type
    f"{REL}/styles": f"{_OFFICE_TYPE}.spreadsheetml.styles+xml",
    f"{REL}/sharedStrings": f"{_OFFICE_TYPE}.spreadsheetml.sharedStrings+xml",
    f"{REL}/theme": f"{_OFFICE_TYPE}.theme+xml",
}
_DOC_PROPS = {
    "docProps/core.xml": (
        "application/vnd.openxmlformats-package.core-properties+xml",
        "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties",
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"/>',
    ),
    "docProps/app.xml": (
        f"{_OFFICE_TYPE}.extended-properties+xml",
        f"{REL}/extended-properties",
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"/>',
    ),
}
_SHEET_TYPE = f"{_OFFICE_TYPE}.spreadsheetml.worksheet+xml"
_BOOK_TYPE = f"{_OFFICE_TYPE}.spreadsheetml.sheet.main+xml"


class SheetCopyError(ValueError):
    """A sheet that cannot be copied alone (not in the workbook, or with relationships of its own)."""


@dataclass(frozen=True)
class _Sheet:
    name: str
    index: int  # position in the workbook (localSheetId)
    part: str  # zip member, e.g. xl/worksheets/sheet3.xml


def _quote_sheet(name: str) -> str:
    """A sheet name as a formula reference writes it: in single quotes, a quote doubled."""
    return "'" + name.replace("'", "''") + "'"


class SavedBook:
    """A saved workbook open for copying its sheets (a context manager: closes the zip)."""

    def __init__(self, path: Path) -> None:
        self.zip = zipfile.ZipFile(path)
        try:
            self._read()
        except BaseException:
            self.zip.close()
            raise

    def __enter__(self) -> SavedBook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.zip.close()

    def _read(self) -> None:
        members = set(self.zip.namelist())
        book = ElementTree.fromstring(self.zip.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(self.zip.read("xl/_rels/workbook.xml.rels"))
        targets, self.shared = {}, []  # shared: (part, relationship type) of the styles, strings, theme
        for rel in rels.iter(f"{{{PKG_REL}}}Relationship"):
            targets[rel.get("Id")] = part = _part("xl", rel.get("Target", ""))
            if rel.get("Type") in _SHARED and part in members:
                self.shared.append((part, rel.get("Type", "")))
        self.sheets: dict[str, _Sheet] = {}
        for i, sheet in enumerate(book.iter(f"{{{MAIN}}}sheet")):
            name = sheet.get("name", "")
            self.sheets[name] = _Sheet(name, i, targets[sheet.get(f"{{{REL}}}id")])
        self.local_names: dict[int, list[tuple[str, str]]] = {}  # localSheetId → (name, formula)
        for defined in book.iter(f"{{{MAIN}}}definedName"):
            local = defined.get("localSheetId")
            if local is not None:
                self.local_names.setdefault(int(local), []).append(
                    (defined.get("name", ""), defined.text or "")
                )
        pr = book.find(f"{{{MAIN}}}workbookPr")
        self.date1904 = pr is not None and pr.get("date1904") in ("1", "true")
        self.props = {p: p in members for p in _DOC_PROPS}
        self.members = members

    def copy(self, sheets: Sequence[tuple[str, str]], path: Path, level: int = 6) -> None:
        """Write at ``path`` a workbook of the sheets ``(name in this workbook, new name)``, in that order (zip
        deflate level ``level``). Nothing is left at ``path`` when it fails."""
        chosen = []
        for old, new in sheets:
            sheet = self.sheets.get(old)
            if sheet is None:
                raise SheetCopyError(f"no sheet {old!r} in the workbook")
            rels = posixpath.join(
                posixpath.dirname(sheet.part), "_rels", posixpath.basename(sheet.part) + ".rels"
            )
            if rels in self.members:
                raise SheetCopyError(f"sheet {old!r} has relationships of its own: it cannot be copied alone")
            chosen.append((sheet, new))
        try:
            with zipfile.ZipFile(
                path, "w", zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=level
            ) as out:
                out.writestr("[Content_Types].xml", self._content_types(len(chosen)))
                out.writestr("_rels/.rels", self._package_rels())
                for part, present in self.props.items():
                    out.writestr(part, self.zip.read(part) if present else _DOC_PROPS[part][2])
                out.writestr("xl/workbook.xml", self._workbook(chosen))
                out.writestr("xl/_rels/workbook.xml.rels", self._workbook_rels(len(chosen)))
                for part, _kind in self.shared:
                    out.writestr(part, self.zip.read(part))
                for i, (sheet, _new) in enumerate(chosen, 1):
                    with (
                        self.zip.open(sheet.part) as src,
                        out.open(f"xl/worksheets/sheet{i}.xml", "w", force_zip64=True) as dest,
                    ):
                        shutil.copyfileobj(src, dest, 1 << 20)
        except BaseException:
            with suppress(OSError):
                os.remove(path)
            raise

    def _content_types(self, n: int) -> str:
        overrides = [("/xl/workbook.xml", _BOOK_TYPE)]
        overrides += [(f"/xl/worksheets/sheet{i}.xml", _SHEET_TYPE) for i in range(1, n + 1)]
        overrides += [(f"/{part}", _SHARED[kind]) for part, kind in self.shared]
        overrides += [(f"/{p}", spec[0]) for p, spec in _DOC_PROPS.items()]
        return (
            f'<Types xmlns="{CONTENT_TYPES}">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            + "".join(f"<Override PartName={quoteattr(p)} ContentType={quoteattr(t)}/>" for p, t in overrides)
            + "</Types>"
        )

    @staticmethod
    def _package_rels() -> str:
        rels = [(f"{REL}/officeDocument", "xl/workbook.xml")]
        rels += [(spec[1], part) for part, spec in _DOC_PROPS.items()]
        return _relationships(rels)

    def _workbook(self, chosen: Sequence[tuple[_Sheet, str]]) -> str:
        sheets, names = [], []
        for i, (sheet, new) in enumerate(chosen):
            sheets.append(f'<sheet name={quoteattr(new)} sheetId="{i + 1}" r:id="rId{i + 1}"/>')
            for name, formula in self.local_names.get(sheet.index, ()):
                formula = formula.replace(_quote_sheet(sheet.name) + "!", _quote_sheet(new) + "!")
                formula = formula.replace(sheet.name + "!", _quote_sheet(new) + "!")
                names.append(
                    f'<definedName name={quoteattr(name)} localSheetId="{i}">{escape(formula)}</definedName>'
                )
        return (
            f'<workbook xmlns="{MAIN}" xmlns:r="{REL}">'
            + ('<workbookPr date1904="1"/>' if self.date1904 else "<workbookPr/>")
            + '<bookViews><workbookView activeTab="0"/></bookViews>'
            + f"<sheets>{''.join(sheets)}</sheets>"
            + (f"<definedNames>{''.join(names)}</definedNames>" if names else "")
            + '<calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>'
        )

    def _workbook_rels(self, n: int) -> str:
        rels = [(f"{REL}/worksheet", f"worksheets/sheet{i}.xml") for i in range(1, n + 1)]
        rels += [(kind, posixpath.relpath(part, "xl")) for part, kind in self.shared]
        return _relationships(rels)


def _relationships(rels: Sequence[tuple[str, str]]) -> str:
    return (
        f'<Relationships xmlns="{PKG_REL}">'
        + "".join(
            f'<Relationship Id="rId{i}" Type={quoteattr(kind)} Target={quoteattr(target)}/>'
            for i, (kind, target) in enumerate(rels, 1)
        )
        + "</Relationships>"
    )


def _part(base: str, target: str) -> str:
    """A relationship's target as a zip member name: absolute (``/xl/...``) or relative to ``base``."""
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(base, target))
