"""Known-hash list parsing: every format, every error path, all-or-nothing."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from matchers.lists import (
    FORMATS,
    KnownEntry,
    ListFormatError,
    ParsedList,
    parse_known_list,
    parse_known_stream,
)

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
MD5_B = "0cc175b9c0f1b6a831c399e269772661"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
PHASH = "c3c3c3c33c3c3c3c"
DHASH = "0f0f0f0ff0f0f0f0"
PDQ = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
PDQ_B = "e4cc89d91c623842f8d1f1d9a398e78c9f199a3bf87925f2b7e11e0bf061b064"


def write(tmp_path: Path, content: str | bytes, name: str = "list.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def parse_error(path: Path, **kwargs: str) -> ListFormatError:
    with pytest.raises(ListFormatError) as info:
        parse_known_list(path, **kwargs)
    error = info.value
    assert str(path) in str(error)
    assert "Nothing was imported" in str(error)
    return error


# --- Trawl CSV ------------------------------------------------------------------------


def test_csv_all_columns(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "hash_type,hash,label,source,category,case_ref\n"
        f"md5,{MD5.upper()},empty file,hotline-a,A1,C-17\n"
        f"sha1,{SHA1},,,,\n"
        f"sha256,{SHA256}, spaced , src ,B2,\n"
        f"phash,{PHASH},p,,,\n"
        f"dhash,{DHASH},d,,,\n"
        f"pdq,{PDQ},\"bridge, original\",,,x\n",
    )
    parsed = parse_known_list(path)
    assert parsed.format == "csv"
    assert parsed.lines == 7
    assert parsed.duplicates == 0
    assert parsed.entries[0] == KnownEntry(
        "md5", MD5, "empty file", "hotline-a", "A1", {"case_ref": "C-17"}, 2
    )
    assert parsed.entries[1] == KnownEntry("sha1", SHA1, None, None, None, {}, 3)
    assert parsed.entries[2].label == "spaced"
    assert parsed.entries[2].source == "src"
    assert parsed.entries[5].label == "bridge, original"
    assert parsed.entries[5].extra == {"case_ref": "x"}
    types = ("md5", "sha1", "sha256", "phash", "dhash", "pdq")
    assert parsed.counts_by_type() == dict.fromkeys(types, 1)


def test_csv_header_is_case_and_order_insensitive(tmp_path: Path) -> None:
    path = write(tmp_path, f" Hash , HASH_TYPE \n{PDQ},PDQ\n")
    parsed = parse_known_list(path, fmt="csv")
    assert parsed.entries == [KnownEntry("pdq", PDQ, line=2)]


def test_bom_crlf_blank_lines_and_comments(tmp_path: Path) -> None:
    content = (
        "\ufeff# exported 2024-05-01\r\n"
        "\r\n"
        "hash_type,hash,label\r\n"
        "   # a comment between rows\r\n"
        f"md5,{MD5},a\r\n"
        "\r\n"
        f"md5,{MD5_B},b\r\n"
    )
    parsed = parse_known_list(write(tmp_path, content))
    assert parsed.format == "csv"
    assert [(e.value, e.label, e.line) for e in parsed.entries] == [(MD5, "a", 5), (MD5_B, "b", 7)]
    assert parsed.lines == 7


def test_duplicates_kept_once_and_counted(tmp_path: Path) -> None:
    content = (
        "hash_type,hash,label\n"
        f"md5,{MD5},first\n"
        f"md5,{MD5.upper()},second\n"
        f"sha256,{SHA256},\n"
        f"md5,{MD5},third\n"
        f"pdq,{PDQ},\n"
        f"phash,{PDQ[:16]},\n"
    )
    parsed = parse_known_list(write(tmp_path, content))
    assert parsed.duplicates == 2
    assert [e.label for e in parsed.entries if e.hash_type == "md5"] == ["first"]
    assert len(parsed.entries) == 4
    # Same hex under two types is two entries, not a duplicate.
    assert {e.hash_type for e in parsed.entries} == {"md5", "sha256", "pdq", "phash"}


@pytest.mark.parametrize(
    ("header", "missing"),
    [("hash,label", "hash_type"), ("hash_type,label", "hash"), ("type,value,label", None)],
)
def test_csv_missing_column(tmp_path: Path, header: str, missing: str | None) -> None:
    path = write(tmp_path, f"{header}\n{MD5},x,y\n")
    error = parse_error(path, fmt="csv")
    assert error.line == 1
    assert error.value == header
    assert "lacks the required column" in str(error)
    if missing:
        assert f"column {missing} " in str(error)
    else:
        assert "columns hash_type, hash" in str(error)


def test_csv_missing_column_is_detected_as_csv(tmp_path: Path) -> None:
    error = parse_error(write(tmp_path, f"hash,label\n{MD5},x\n"))
    assert "lacks the required column hash_type" in str(error)


@pytest.mark.parametrize(
    ("row", "fragment", "value"),
    [
        (f"md5,{MD5[:-1]},x", "has 31 hex characters, want 32", MD5[:-1]),
        (f"md5,{MD5[:-1]}z,x", "non-hex characters 'z'", f"{MD5[:-1]}z"),
        (f"pdq,{MD5},x", "is not a valid pdq hash: it has 32 hex characters, want 64", MD5),
        (f"photodna,{MD5},x", "unknown hash_type 'photodna'; use one of md5, sha1", "photodna"),
        (f"md5,{MD5}", "the row has 2 fields but the header has 3", f"md5,{MD5}"),
        (f"md5,{MD5},a,b", "the row has 4 fields", f"md5,{MD5},a,b"),
        (f'md5,{MD5},"unclosed', "badly quoted CSV", f'md5,{MD5},"unclosed'),
        ("md5,,x", "empty value where a md5 hash was expected", ""),
    ],
)
def test_csv_row_errors_name_line_and_value(
    tmp_path: Path, row: str, fragment: str, value: str
) -> None:
    content = f"hash_type,hash,label\nmd5,{MD5_B},ok\n# note\n{row}\nmd5,{MD5},later\n"
    path = write(tmp_path, content)
    error = parse_error(path)
    assert error.line == 4
    assert error.value == value
    assert fragment in str(error)
    assert f"{path}, line 4: " in str(error)


def test_csv_header_problems(tmp_path: Path) -> None:
    error = parse_error(write(tmp_path, f"hash_type,hash,label,label\nmd5,{MD5},a,b\n"))
    assert "names column label twice" in str(error)
    error = parse_error(write(tmp_path, f"hash_type,hash,\nmd5,{MD5},\n"))
    assert "empty column name" in str(error)


def test_csv_with_header_only_is_an_error(tmp_path: Path) -> None:
    error = parse_error(write(tmp_path, "hash_type,hash,label\n# nothing yet\n"))
    assert error.line is None
    assert "has a header but no hashes" in str(error)


# --- ThreatExchange lines ---------------------------------------------------------------


def test_threatexchange_lines(tmp_path: Path) -> None:
    content = (
        f"pdq {PDQ}\n"
        f"PDQ\t{PDQ_B}   bridge   edit\n"
        f"photo_md5 {MD5}\n"
        f"HASH_SHA256 {SHA256}\n"
        f"md5 {MD5}\n"
    )
    parsed = parse_known_list(write(tmp_path, content))
    assert parsed.format == "te"
    assert [(e.hash_type, e.value, e.label) for e in parsed.entries] == [
        ("pdq", PDQ, None),
        ("pdq", PDQ_B, "bridge   edit"),
        ("md5", MD5, None),
        ("sha256", SHA256, None),
    ]
    assert parsed.duplicates == 1


@pytest.mark.parametrize(
    ("line", "fragment", "value"),
    [
        (f"video_md5 {MD5}", "'video_md5' is a video signal", "video_md5"),
        (f"raw_text {MD5}", "'raw_text' is not an image hash", "raw_text"),
        (f"hash_photodna {MD5}", "PhotoDNA, which is licensed separately", "hash_photodna"),
        (f"sha512 {MD5}", "unknown signal type 'sha512'; accepted signal types: dhash", "sha512"),
        (f"pdq {PDQ[:-2]}", "has 62 hex characters, want 64", PDQ[:-2]),
        ("pdq", "expected '<signal_type> <hash>'", "pdq"),
    ],
)
def test_threatexchange_errors(tmp_path: Path, line: str, fragment: str, value: str) -> None:
    path = write(tmp_path, f"pdq {PDQ}\n{line}\n")
    error = parse_error(path, fmt="te")
    assert (error.line, error.value) == (2, value)
    assert fragment in str(error)


def test_unsupported_signal_type_on_first_line_is_still_te(tmp_path: Path) -> None:
    error = parse_error(write(tmp_path, f"video_md5 {MD5}\n"))
    assert "video signal" in str(error)


# --- pdq-photo-hasher output ------------------------------------------------------------


def test_pdq_hasher_output(tmp_path: Path) -> None:
    content = (
        f"{PDQ},100,bridge-mods/aaa-orig.jpg\n"
        f"{PDQ_B.upper()},49,misc-images/c, with comma.png\n"
        f"{PDQ},100,bridge-mods/copy.jpg\n"
    )
    parsed = parse_known_list(write(tmp_path, content))
    assert parsed.format == "pdq-hasher"
    assert parsed.entries == [
        KnownEntry("pdq", PDQ, "bridge-mods/aaa-orig.jpg", None, None, {"quality": "100"}, 1),
        KnownEntry("pdq", PDQ_B, "misc-images/c, with comma.png", None, None, {"quality": "49"}, 2),
    ]
    assert parsed.duplicates == 1
    assert parsed.low_quality == 1  # 49 < PDQ_QUALITY_THRESHOLD; kept, flagged


def test_pdq_hasher_header_and_explicit_type(tmp_path: Path) -> None:
    path = write(tmp_path, f"hash,quality,filename\n{PDQ},80,a.jpg\n")
    parsed = parse_known_list(path, hash_type="pdq")
    assert parsed.format == "pdq-hasher"
    assert parsed.entries[0].line == 2
    error = parse_error(path, hash_type="md5")
    assert "names its own hash types" in str(error)


@pytest.mark.parametrize(
    ("line", "fragment", "value"),
    [
        (f"{PDQ},101,a.jpg", "quality '101' is not a whole number from 0 to 100", "101"),
        (f"{PDQ},high,a.jpg", "quality 'high'", "high"),
        (f"{PDQ},80", "expected 'hash,quality,filename'", f"{PDQ},80"),
        (f"{PDQ[:-1]},80,a.jpg", "has 63 hex characters", PDQ[:-1]),
    ],
)
def test_pdq_hasher_errors(tmp_path: Path, line: str, fragment: str, value: str) -> None:
    error = parse_error(write(tmp_path, f"{PDQ_B},90,b.jpg\n{line}\n"))
    assert (error.line, error.value) == (2, value)
    assert fragment in str(error)


# --- plain lists --------------------------------------------------------------------------


def test_plain_needs_a_type(tmp_path: Path) -> None:
    path = write(tmp_path, f"{MD5}\n{MD5_B}\n")
    error = parse_error(path)
    assert error.line == 1
    assert ("give the hash type with `--type md5` on the command line (32 hex characters "
            "would fit md5)") in str(error)
    parsed = parse_known_list(path, hash_type="md5")
    assert parsed.format == "plain"
    assert [e.value for e in parsed.entries] == [MD5, MD5_B]
    error = parse_error(path, fmt="plain")
    assert "a plain list needs its hash type" in str(error)


def test_plain_ambiguous_length_names_both_types(tmp_path: Path) -> None:
    error = parse_error(write(tmp_path, f"{PDQ}\n"))
    assert "64 hex characters would fit sha256 or pdq" in str(error)


def test_plain_accepts_md5sum_output(tmp_path: Path) -> None:
    content = f"{MD5}  images/empty.jpg\n{MD5_B} *images/a file.png\n"
    parsed = parse_known_list(write(tmp_path, content), hash_type="MD5")
    assert [e.label for e in parsed.entries] == ["images/empty.jpg", "images/a file.png"]


def test_plain_wrong_type_names_line(tmp_path: Path) -> None:
    error = parse_error(write(tmp_path, f"{PDQ}\n{PDQ_B}\n{MD5}\n"), hash_type="pdq")
    assert (error.line, error.value) == (3, MD5)
    assert "want 64 hexadecimal characters" in str(error)


def test_unknown_type_argument(tmp_path: Path) -> None:
    error = parse_error(write(tmp_path, f"{MD5}\n"), hash_type="crc32")
    assert "unknown hash type 'crc32'" in str(error)
    assert error.value == "crc32"


# --- detection and whole-file errors ------------------------------------------------------


def test_undetectable_format(tmp_path: Path) -> None:
    error = parse_error(write(tmp_path, "<html><body>not a list</body></html>\n"))
    assert error.line == 1
    assert "cannot tell the list format" in str(error)
    assert "hash_type,hash" in str(error)
    assert "<signal_type> <hash>" in str(error)


def test_csv_type_argument_is_refused(tmp_path: Path) -> None:
    error = parse_error(write(tmp_path, f"hash_type,hash\nmd5,{MD5}\n"), hash_type="md5")
    assert "this is a csv list" in str(error)


def test_forced_format_is_used(tmp_path: Path) -> None:
    path = write(tmp_path, f"pdq {PDQ}\n")
    error = parse_error(path, fmt="csv")
    assert "lacks the required column" in str(error)
    error = parse_error(path, fmt="yaml")
    assert "unknown list format 'yaml'" in str(error)
    assert set(FORMATS) == {"auto", "csv", "te", "pdq-hasher", "plain"}


@pytest.mark.parametrize(
    "content", [b"", b"\n\n", b"# only a comment\r\n   \r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n"]
)
def test_empty_files(tmp_path: Path, content: bytes) -> None:
    error = parse_error(write(tmp_path, content))
    assert error.line is None
    assert "the file has no hashes" in str(error)


def test_non_utf8_bytes_name_the_line(tmp_path: Path) -> None:
    content = f"hash_type,hash,label\nmd5,{MD5},ok\nmd5,{MD5_B},caf\xe9\n".encode("latin-1")
    error = parse_error(write(tmp_path, content))
    assert error.line == 3
    column = len(f"md5,{MD5_B},caf") + 1
    assert f"not valid UTF-8 (byte 0xe9 at column {column} " in str(error)
    assert error.value is not None
    assert error.value.endswith("caf\\xe9")


def test_utf16_file_is_refused_clearly(tmp_path: Path) -> None:
    content = f"hash_type,hash\nmd5,{MD5}\n".encode("utf-16")
    error = parse_error(write(tmp_path, content))
    assert error.line == 1
    assert "encoded as UTF-16; save it as UTF-8" in str(error)


def test_binary_and_control_characters(tmp_path: Path) -> None:
    error = parse_error(write(tmp_path, f"md5 {MD5}\nmd5\x00{MD5}\n".encode()))
    assert error.line == 2
    assert "NUL bytes" in str(error)
    error = parse_error(write(tmp_path, f"md5 {MD5}\rmd5 {MD5_B}\n".encode()))
    assert "carriage return in the middle" in str(error)


def test_missing_file(tmp_path: Path) -> None:
    error = parse_error(tmp_path / "nope.csv")
    assert "cannot read the file" in str(error)


def test_error_on_the_last_line_returns_nothing(tmp_path: Path) -> None:
    lines = [f"md5 {os.urandom(16).hex()}" for _ in range(5000)] + ["md5 nothex"]
    error = parse_error(write(tmp_path, "\n".join(lines)))
    assert (error.line, error.value) == (5001, "nothex")


def test_stream_input() -> None:
    parsed = parse_known_stream(io.BytesIO(f"pdq {PDQ}\n".encode()), name="<stdin>")
    assert parsed == ParsedList("te", [KnownEntry("pdq", PDQ, line=1)], 0, 1)
    with pytest.raises(ListFormatError, match=r"^<stdin>, line 1: "):
        parse_known_stream(io.BytesIO(b"pdq zz\n"), name="<stdin>")


def test_million_line_list(tmp_path: Path) -> None:
    """The largest lists hotlines exchange are millions of lines: parse one in seconds."""
    path = tmp_path / "big.csv"
    count = 1_000_000
    with path.open("w") as handle:
        handle.write("hash_type,hash,label\n")
        for i in range(count):
            handle.write(f"md5,{i:032x},{i}\n")
        handle.write(f"md5,{0:032x},again\n")
    parsed = parse_known_list(path)
    assert len(parsed.entries) == count
    assert parsed.duplicates == 1
    assert parsed.lines == count + 2
    last = KnownEntry("md5", f"{count - 1:032x}", str(count - 1), line=count + 1)
    assert parsed.entries[-1] == last
