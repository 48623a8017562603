"""Terminal output never carries control sequences or rich markup from the data: headers and cells holding ANSI
colour (ESC [), OSC window titles (ESC ] ... BEL), a C1 CSI (U+009B), a bidi override or ``[red]x[/red]`` are
shown as written, control characters as visible escapes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from handover import cli
from handover.cli import app
from handover.errors import SourceError

runner = CliRunner()

RAW = ("\x1b", "\x07", "\x9b", "\u202e")  # none of these may reach the terminal
COLOUR, TITLE, CSI, MARKUP, BOLD = "\x1b[31m", "\x1b]0;title\x07", "\x9b2J", "[red]x[/red]", "[bold red]x[/]"
NOTE_HEADER = f"Ghi {COLOUR}chú{TITLE}{CSI}"
PROCEDURE = f"Đăng ký {COLOUR}khai sinh"
NOTE = f"{TITLE} n{CSI} \u202eabc"


def _csv(path: Path, *, key_header: str = "Mã hồ sơ") -> Path:
    header = [key_header, "Tên thủ tục", "Chủ hồ sơ", "Xã/Phường", "Ngày tiếp nhận", "Ngày hẹn trả"]
    header += ["Trạng thái", NOTE_HEADER, MARKUP]
    row = [
        "000.00.53.H38-250620-0001",
        PROCEDURE,
        BOLD,
        "Xã Sơn Hà",
        "20/06/2025",
        "30/06/2025",
        "Đang xử lý",
    ]
    row += [NOTE, MARKUP]
    path.write_text(",".join(header) + "\n" + ",".join(row) + "\n", encoding="utf-8")
    return path


def _config(tmp_path: Path, csv_name: str) -> Path:
    path = tmp_path / "batch.toml"
    path.write_text(
        f'[batch]\nid = "t1"\n[target]\nurl = "sqlite:///{tmp_path / "target.db"}"\n'
        "[thresholds]\nmax_error_share = 1.0\n"
        f'[[sources]]\nid = "a"\nkind = "csv"\npath = "{csv_name}"\n'
        'old_province_code = "10"\nold_district_code = "086"\n',
        encoding="utf-8",
    )
    return path


def _assert_clean(output: str) -> None:
    for ch in RAW:
        assert ch not in output, (ch, output)


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.console, "width", 250)


def test_inspect_shows_headers_and_cells_as_written(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sources", "inspect", str(_csv(tmp_path / "h.csv"))])
    assert result.exit_code == 0, result.output
    _assert_clean(result.output)
    assert "Ghi \\x1b[31mchú\\x1b]0;title\\x07\\x9b2J" in result.output  # the header, in the unmapped list
    assert "Đăng ký \\x1b[31mkhai sinh" in result.output  # a sample cell
    assert MARKUP in result.output and BOLD in result.output  # markup printed, not applied


def test_inspect_json_escapes_controls_and_keeps_the_values(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sources", "inspect", str(_csv(tmp_path / "h.csv")), "--json"])
    assert result.exit_code == 0, result.output
    _assert_clean(result.stdout)
    data = json.loads(result.stdout)
    assert NOTE_HEADER in data["unmapped"] and MARKUP in data["unmapped"]
    assert data["samples"][0]["procedure_name"] == PROCEDURE
    assert "\\u001b[31m" in result.stdout and "\\u009b" in result.stdout


def test_run_summary_and_json_are_clean(tmp_path: Path) -> None:
    _csv(tmp_path / "h.csv")
    cfg = _config(tmp_path, "h.csv")
    text = runner.invoke(app, ["run", str(cfg), "--dry-run"])
    assert text.exit_code == 0, text.output
    _assert_clean(text.output)
    assert "Batch t1 (dry_run)" in text.output
    as_json = runner.invoke(app, ["run", str(cfg), "--json"])
    assert as_json.exit_code == 0, as_json.output
    _assert_clean(as_json.stdout)
    # the control characters in the procedure name hold the row back (control_character), shown literally
    assert json.loads(as_json.stdout)["total"]["quarantined"] == 1
    assert json.loads(as_json.stdout)["findings"]["control_character"] >= 1


def test_run_error_quoting_headers_is_clean(tmp_path: Path) -> None:
    """The missing-column error lists the headers it found: shown as written."""
    _csv(tmp_path / "nokey.csv", key_header=f"Mã {COLOUR}hồ{CSI} {MARKUP}")
    result = runner.invoke(app, ["run", str(_config(tmp_path, "nokey.csv"))])
    assert result.exit_code == 3, result.output
    _assert_clean(result.output)
    assert "required column for dossier_code is missing" in result.output
    assert MARKUP in result.output and "\\x1b[31m" in result.output


@pytest.mark.parametrize("terminal", [True, False])
def test_error_panel_shows_data_literally(monkeypatch: pytest.MonkeyPatch, terminal: bool) -> None:
    out = io.StringIO()
    monkeypatch.setattr(
        cli.base, "err_console", Console(file=out, force_terminal=terminal, width=300, emoji=False)
    )
    exc = SourceError(
        f"Cell {TITLE}{MARKUP} :warning: is not a date.",
        hint=f"Fix row 3 {BOLD}",
        file="a.csv",
        column=f"Ngày{CSI}",
    )
    cli.render_error(exc)
    shown = out.getvalue()
    for ch in RAW[1:]:  # a terminal console draws the panel with its own ESC sequences; no OSC, BEL or CSI
        assert ch not in shown
    assert "\x1b]" not in shown
    assert "\\x1b]0;title\\x07" in shown and MARKUP in shown and BOLD in shown and ":warning:" in shown
    assert "Ngày\\x9b2J" in shown
