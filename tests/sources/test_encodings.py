"""The legacy codecs letter by letter, detection with evidence, and look-alikes inside Unicode cells."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handover.sources.encodings import (
    decode,
    decode_tcvn3,
    decode_vni,
    detect_bytes,
    encode_cp1258,
    encode_tcvn3,
    encode_vni,
    is_syllable,
    repair_lookalike,
)

VOWELS = "aăâeêioôơuưy"
TONES = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]  # none, grave, acute, hook, tilde, dot


def _letters() -> list[str]:
    out = []
    for v in VOWELS:
        for t in TONES:
            ch = unicodedata.normalize("NFC", v + t)
            if not ch.isascii():
                out.append(ch)
    out.append("đ")
    return out


LOWER = _letters()
ALL = LOWER + [c.upper() for c in LOWER]

# TCVN3 (TCVN 5712:1993 VN3) by hand, per vowel: no tone, grave, acute, hook, tilde, dot below.
TCVN3_EXPECTED = {
    "a": (None, 0xB5, 0xB8, 0xB6, 0xB7, 0xB9),
    "ă": (0xA8, 0xBB, 0xBE, 0xBC, 0xBD, 0xC6),
    "â": (0xA9, 0xC7, 0xCA, 0xC8, 0xC9, 0xCB),
    "e": (None, 0xCC, 0xD0, 0xCE, 0xCF, 0xD1),
    "ê": (0xAA, 0xD2, 0xD5, 0xD3, 0xD4, 0xD6),
    "i": (None, 0xD7, 0xDD, 0xD8, 0xDC, 0xDE),
    "o": (None, 0xDF, 0xE3, 0xE1, 0xE2, 0xE4),
    "ô": (0xAB, 0xE5, 0xE8, 0xE6, 0xE7, 0xE9),
    "ơ": (0xAC, 0xEA, 0xED, 0xEB, 0xEC, 0xEE),
    "u": (None, 0xEF, 0xF3, 0xF1, 0xF2, 0xF4),
    "ư": (0xAD, 0xF5, 0xF8, 0xF6, 0xF7, 0xF9),
    "y": (None, 0xFA, 0xFD, 0xFB, 0xFC, 0xFE),
}
TCVN3_CAPITALS = {"Ă": 0xA1, "Â": 0xA2, "Ê": 0xA3, "Ô": 0xA4, "Ơ": 0xA5, "Ư": 0xA6, "Đ": 0xA7}
# VNI Windows marks, by (shape, tone): an independent statement of the layout
VNI_TONE = {"\u0300": "ø", "\u0301": "ù", "\u0309": "û", "\u0303": "õ", "\u0323": "ï"}
VNI_CIRC = {"": "â", "\u0300": "à", "\u0301": "á", "\u0309": "å", "\u0303": "ã", "\u0323": "ä"}
VNI_BREVE = {"": "ê", "\u0300": "è", "\u0301": "é", "\u0309": "ú", "\u0303": "ü", "\u0323": "ë"}
VNI_SINGLE = {"ơ": "ô", "ư": "ö", "đ": "ñ", "ì": "ì", "í": "í", "ỉ": "æ", "ĩ": "ó", "ị": "ò", "ỵ": "î"}


def test_alphabet_has_134_letters() -> None:
    assert len(LOWER) == 67 and len(set(ALL)) == 134


@pytest.mark.parametrize("letter", LOWER)
def test_tcvn3_lowercase_letter(letter: str) -> None:
    d = unicodedata.normalize("NFD", letter)
    tone = next((c for c in d if c in TONES[1:]), "")
    base = unicodedata.normalize("NFC", "".join(c for c in d if c != tone))
    expected = 0xAE if letter == "đ" else TCVN3_EXPECTED[base][TONES.index(tone)]
    assert encode_tcvn3(letter) == bytes([expected])
    assert decode_tcvn3(bytes([expected])) == letter


@pytest.mark.parametrize("capital,byte", sorted(TCVN3_CAPITALS.items()))
def test_tcvn3_base_capitals_round_trip(capital: str, byte: int) -> None:
    assert encode_tcvn3(capital) == bytes([byte])
    assert decode_tcvn3(bytes([byte])) == capital


@pytest.mark.parametrize("letter", [c.upper() for c in LOWER if c.upper() not in TCVN3_CAPITALS])
def test_tcvn3_toned_capitals_are_written_lower_case(letter: str) -> None:
    """TCVN3 has no code for a toned capital: the "H" fonts show the lowercase byte in capitals."""
    encoded = encode_tcvn3(letter)
    assert len(encoded) == 1
    assert decode_tcvn3(encoded) == letter.lower()


@pytest.mark.parametrize("letter", ALL)
def test_vni_every_letter_round_trips(letter: str) -> None:
    lower = letter.lower()
    if lower in VNI_SINGLE:
        expected = VNI_SINGLE[lower]
    else:
        d = unicodedata.normalize("NFD", lower)
        tone = next((c for c in d if c in VNI_TONE), "")
        shape = "".join(c for c in d[1:] if c != tone)
        if shape == "\u031b":  # horn: ơ/ư are single bytes, the tone follows
            expected = VNI_SINGLE[unicodedata.normalize("NFC", d[0] + shape)] + VNI_TONE[tone]
        elif shape == "\u0302":
            expected = d[0] + VNI_CIRC[tone]
        elif shape == "\u0306":
            expected = d[0] + VNI_BREVE[tone]
        else:
            expected = d[0] + VNI_TONE[tone]
    if letter != lower:
        expected = expected.upper()
    assert encode_vni(letter) == expected.encode("latin-1")
    assert decode_vni(expected.encode("latin-1")) == letter


@pytest.mark.parametrize("letter", ALL)
def test_cp1258_every_letter_round_trips_to_nfc(letter: str) -> None:
    raw = encode_cp1258(letter)
    assert raw.decode("cp1258") == unicodedata.normalize("NFD", letter) or len(raw) == 1 or len(raw) == 2
    assert decode(raw, "cp1258") == letter


def test_cp1258_decodes_to_combining_marks_which_we_normalise() -> None:
    raw = encode_cp1258("Bảo Thắng")
    assert raw == b"Ba\xd2o Th\xe3\xecng"  # a + hook (0xD2), ă (0xE3) + acute (0xEC)
    assert raw.decode("cp1258") != "Bảo Thắng"  # Python leaves combining marks
    assert decode(raw, "cp1258") == "Bảo Thắng"


@pytest.mark.parametrize(
    "raw,text",
    [
        ("B¶o Th¾ng", "Bảo Thắng"),
        ("M· hå s¬", "Mã hồ sơ"),
        ("M\xadêng Kh\xad¬ng", "Mường Khương"),  # 0xAD (ư) is a soft hyphen in Latin-1
        ("B¸t X¸t", "Bát Xát"),
        ("Ngµy hÑn tr¶", "Ngày hẹn trả"),
        ("§¨ng ký khai sinh", "Đăng ký khai sinh"),
    ],
)
def test_tcvn3_known_words(raw: str, text: str) -> None:
    assert decode_tcvn3(raw) == text
    assert decode_tcvn3(raw.encode("latin-1")) == text


def test_vni_known_words() -> None:
    assert decode_vni("Xin chaøo caùc baïn") == "Xin chào các bạn"
    assert decode_vni("Ñaø Naüng, Vieät Nam, Söôøng") == "Đà Nẵng, Việt Nam, Sường"
    assert decode_vni("THAØNH PHOÁ") == "THÀNH PHỐ"


def test_syllables() -> None:
    for word in ("Nguyễn", "khuya", "nghiêng", "quốc", "giữa", "Thắng", "hoà", "hòa", "đường"):
        assert is_syllable(word), word
    for word in ("B¶o", "Th¾ng", "Viờũt", "Vieät", "xyz"):
        assert not is_syllable(word), word


TEXT = "Mã hồ sơ,Chủ hồ sơ,Ngày hẹn trả\n000.00.53.H48-250601-0001,Nguyễn Thị Hồng,05/07/2025\n"


def test_detect_tcvn3_with_evidence() -> None:
    det = detect_bytes(b"M\xb7 h\xe5 s\xac,Ch\xf1 h\xe5 s\xac,Ng\xb5y h\xd1n tr\xb6\n", complete=True)
    assert det.encoding == "tcvn3"
    assert det.evidence.startswith("not UTF-8; bytes ")
    assert "9 of 9 accented words decode to Vietnamese syllables as TCVN3 (ABC)" in det.evidence


@pytest.mark.parametrize(
    "data,codec",
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), "utf-8-sig"),
        (TEXT.encode("utf-16"), "utf-16"),
        (encode_cp1258(TEXT), "cp1258"),
        (encode_vni(TEXT), "vni"),
        (encode_tcvn3(TEXT), "tcvn3"),
    ],
)
def test_detect_each_encoding(data: bytes, codec: str) -> None:
    det = detect_bytes(data, complete=True)
    assert det.encoding == codec
    assert det.evidence


def test_utf8_cut_in_the_middle_of_a_letter_is_still_utf8() -> None:
    data = TEXT.encode("utf-8")
    cut = data[: data.index("ồ".encode()) + 1]
    assert detect_bytes(cut, complete=False).encoding == "utf-8"


def test_lookalikes_in_cells() -> None:
    assert repair_lookalike("B¶o Th¾ng") == ("Bảo Thắng", "tcvn3")
    assert repair_lookalike("Vieät Nam") == ("Việt Nam", "vni")
    for real in ("Hà Nội", "Bảo Thắng", "Café ½", "Nguyễn Thị Hồng", "ABC-123"):
        assert repair_lookalike(real) == (real, None)


def test_openpyxl_parses_xml_with_defusedxml() -> None:
    """Entity-expansion protection: openpyxl switches to defusedxml when it is installed."""
    from openpyxl.xml import DEFUSEDXML

    assert DEFUSEDXML is True


_TEXT = st.text(
    alphabet=st.sampled_from(ALL + list("abcdeghiklmnopqrstuvxyABCDGHKLMNPQRSTVXY 0123456789,.-/"))
)


@given(_TEXT)
def test_vni_round_trips_any_text(text: str) -> None:
    assert decode_vni(encode_vni(text)) == text


@given(_TEXT)
def test_tcvn3_round_trips_any_text_up_to_toned_capitals(text: str) -> None:
    expected = "".join(
        c if c in TCVN3_CAPITALS or not c.isupper() or c.isascii() else c.lower() for c in text
    )
    assert decode_tcvn3(encode_tcvn3(text)) == expected


@given(_TEXT)
def test_cp1258_round_trips_any_text(text: str) -> None:
    assert decode(encode_cp1258(text), "cp1258") == text


def test_mixed_cell_repairs_only_the_legacy_words() -> None:
    from handover.sources.encodings import repair_lookalike

    assert repair_lookalike("Chuyển hồ sơ về xã B¶o Th¾ng") == ("Chuyển hồ sơ về xã Bảo Thắng", "tcvn3")
    assert repair_lookalike("Giá ½ kg, đã nhận") == ("Giá ½ kg, đã nhận", None)


def test_utf8_with_a_few_stray_bytes_is_read_as_utf8_so_the_bad_line_is_named() -> None:
    """A UTF-8 export damaged in one place is not a Windows-1258 file: reading it as UTF-8 names the line."""
    from handover.sources.encodings import detect_bytes

    good = "Nguyễn Thị Hồng,Đăng ký khai sinh,Đang xử lý\r\n".encode() * 40
    damaged = good + "Lê Văn Thắng,".encode() + b"\xc4ang\r\n" + good
    found = detect_bytes(damaged, complete=True)
    assert found.encoding == "utf-8" and "but for 1 byte(s)" in found.evidence
    assert f"byte offset {len(good) + len('Lê Văn Thắng,'.encode()):,}" in found.evidence
    # a real Windows-1258 file is still told as such
    legacy = (Path(__file__).resolve().parents[1] / "data" / "dossiers_cp1258.csv").read_bytes()
    assert detect_bytes(legacy, complete=True).encoding != "utf-8"
