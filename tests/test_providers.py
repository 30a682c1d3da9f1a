"""Hosting providers: import (all-or-nothing, line numbers), longest-prefix and domain match."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage.models import Provider
from storage.providers import (
    ProviderFileError,
    attribute,
    import_provider_file,
    list_providers,
    parse_provider_file,
    registered_domain,
)
from tests.takedown_helpers import audit_rows, make_store

GOOD = """name,abuse_email,country,ranges,domains
Big Cloud,abuse@bigcloud.test,US,10.0.0.0/8 2001:db8::/32,bigcloud.test
Big Cloud Europe,abuse-eu@bigcloud.test,nl,10.20.0.0/16;2001:db8:aa::/48,eu.bigcloud.test
Tiny Host,abuse@tiny.test,,192.0.2.0/24,"cdn.tiny.test, tinyhost.test"
"""


@pytest.fixture
def store(db_url: str):
    s = make_store(db_url)
    yield s
    s.close()


def write(tmp_path: Path, text: str, name: str = "providers.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_parse_good_file(tmp_path: Path) -> None:
    specs = parse_provider_file(write(tmp_path, GOOD))
    assert [(s.name, s.country, s.line) for s in specs] == [
        ("Big Cloud", "US", 2), ("Big Cloud Europe", "NL", 3), ("Tiny Host", None, 4)]
    assert specs[1].ranges == ("10.20.0.0/16", "2001:db8:aa::/48")
    assert specs[2].domains == ("cdn.tiny.test", "tinyhost.test")


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("name,abuse_email,country,ranges,domains\nA,a@x.test,US,10.0.0.1/8,\n", 2,
         "did you mean 10.0.0.0/8"),
        ("name,abuse_email,country,ranges,domains\nA,a@x.test,US,,\nB,not-an-email,,,\n", 3,
         "abuse_email 'not-an-email'"),
        ("name,abuse_email,country,ranges,domains\nA,,USA,,\n", 2, "two-letter"),
        ("name,abuse_email,country,ranges,domains\nA,,,,\nA,,,,\n", 3, "already appears on line 2"),
        ("name,abuse_email,country,ranges,domains\nA,,,,x.test\nB,,,,x.test\n", 3,
         "domain x.test already belongs"),
        ("name,abuse_email,country,ranges,domains\n,,,10.0.0.0/8,\n", 2, "name column is empty"),
        ("name,abuse_email,country,ranges,domains\nA,,,,bad_domain!\n", 2, "not a valid host"),
        ("name,email,country\nA,,\n", 1, "unknown column(s): email"),
        ("name,abuse_email,country,ranges,domains\nA,,\n", 2, "expected 5 columns, found 3"),
        ("", 1, "the file is empty"),
        ("name,abuse_email,country,ranges,domains\n", 1, "no providers"),
        ('name,abuse_email,country,ranges,domains\n"Evil\r\nBcc: x@y.test",,,,\n', 3,
         "control characters"),
        # Line and paragraph separators, C1 controls and reordering marks are refused like
        # CR/LF, and named; they do not shift the reported line numbers either.
        ("name,abuse_email,country,ranges,domains\nEvil\u2028Bcc: x@y.test,,,,\n", 2,
         "contains U+2028 LINE SEPARATOR; a name must be one line of text"),
        ("name,abuse_email,country,ranges,domains\nA,,,,\nEvil\u2029Host,,,,\n", 3,
         "contains U+2029 PARAGRAPH SEPARATOR"),
        ("name,abuse_email,country,ranges,domains\nEvil\x85Host,,,,\n", 2,
         "contains U+0085 (a control character)"),
        ("name,abuse_email,country,ranges,domains\nEvil\x0bHost,,,,\n", 2,
         "contains U+000B (a control character)"),
        ("name,abuse_email,country,ranges,domains\nHost\u202egnp.exe,,,,\n", 2,
         "contains U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("name,abuse_email,country,ranges,domains\nA,abuse\x00@a.test,,,\n", 2,
         "abuse_email 'abuse\\x00@a.test' contains U+0000"),
    ],
)
def test_malformed_files_name_the_line_and_import_nothing(
    sqlite_url: str, tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    # Parsing does not depend on the database; the clash test below runs on both.
    store = make_store(sqlite_url)
    path = write(tmp_path, text)
    before = audit_rows(store)
    with pytest.raises(ProviderFileError) as info:
        import_provider_file(store, path, actor="alice")
    assert info.value.line == line
    assert fragment in str(info.value)
    assert f"line {line}:" in str(info.value)
    assert "nothing was imported" in str(info.value)
    assert list_providers(store) == []
    assert audit_rows(store) == before
    store.close()


def test_all_problems_reported_together(tmp_path: Path) -> None:
    text = GOOD + "Bad One,nope,XX1,300.0.0.0/8,\nBad Two,,,,-bad-.test\n"
    with pytest.raises(ProviderFileError) as info:
        parse_provider_file(write(tmp_path, text))
    assert [line for line, _ in info.value.errors] == [5, 5, 5, 6]


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(b"name,abuse_email,country,ranges,domains\nA,,,,\n\xff\xfe,,,,\n")
    with pytest.raises(ProviderFileError, match="line 3: the file is not UTF-8"):
        parse_provider_file(path)


def test_import_list_and_longest_prefix_match(store, tmp_path: Path) -> None:
    result = import_provider_file(store, write(tmp_path, GOOD), actor="alice")
    assert (result.added, result.updated, result.ranges, result.domains) == (3, 0, 5, 4)
    listed = {p.name: p for p in list_providers(store)}
    assert listed["Big Cloud Europe"].ranges == ("10.20.0.0/16", "2001:db8:aa::/48")
    assert listed["Tiny Host"].slug == "tiny-host"
    audit = audit_rows(store)[-1]
    assert (audit[2], audit[3], audit[4]) == ("alice", "import", "provider")
    assert json.loads(audit[8])["added"] == 3
    with store.session() as s:
        cases = {
            ("10.20.3.4", "http://x.invalid/a.png"): ("Big Cloud Europe", "ip", "10.20.0.0/16"),
            ("10.99.0.1", "http://x.invalid/a.png"): ("Big Cloud", "ip", "10.0.0.0/8"),
            ("2001:db8:aa::1", "http://x.invalid/"): ("Big Cloud Europe", "ip",
                                                       "2001:db8:aa::/48"),
            ("2001:db8:1::1", "http://x.invalid/"): ("Big Cloud", "ip", "2001:db8::/32"),
            ("::ffff:192.0.2.9", "http://x.invalid/"): ("Tiny Host", "ip", "192.0.2.0/24"),
            # No IP match: the media host's longest domain suffix decides.
            ("198.51.100.1", "http://img.eu.bigcloud.test/a.png"): ("Big Cloud Europe",
                                                                     "domain",
                                                                     "eu.bigcloud.test"),
            (None, "https://a.b.bigcloud.test/x.jpg"): ("Big Cloud", "domain", "bigcloud.test"),
            (None, "http://cdn.tiny.test/x.jpg"): ("Tiny Host", "domain", "cdn.tiny.test"),
        }
        for (ip, url), expected in cases.items():
            who = attribute(s, ip, url)
            assert (who.name, who.via, who.matched) == expected, (ip, url)
            assert who.abuse_email is not None
        nobody = attribute(s, "198.51.100.1", "http://img.shop.example.co.uk/a.png")
        assert (nobody.key, nobody.via, nobody.provider_id) == (
            "unattributed:example.co.uk", "unattributed", None)
        assert nobody.slug == "unattributed-example-co-uk"


def test_reimport_updates_by_name_and_replaces_ranges(store, tmp_path: Path) -> None:
    import_provider_file(store, write(tmp_path, GOOD), actor="alice")
    again = write(tmp_path, "name,abuse_email,country,ranges,domains\n"
                            "Tiny Host,new@tiny.test,DE,203.0.113.0/24,tinyhost.test\n", "2.csv")
    result = import_provider_file(store, again, actor="bob")
    assert (result.added, result.updated) == (0, 1)
    tiny = next(p for p in list_providers(store) if p.name == "Tiny Host")
    assert (tiny.abuse_email, tiny.country, tiny.ranges, tiny.domains) == (
        "new@tiny.test", "DE", ("203.0.113.0/24",), ("tinyhost.test",))
    with store.session() as s:
        assert attribute(s, "192.0.2.9", "http://x.invalid/").via == "unattributed"
        assert s.query(Provider).count() == 3


def test_domain_owned_by_another_provider_refused(store, tmp_path: Path) -> None:
    import_provider_file(store, write(tmp_path, GOOD), actor="alice")
    clash = write(tmp_path, "name,abuse_email,country,ranges,domains\n"
                            "New Co,,,,\nOther,,,,bigcloud.test\n", "3.csv")
    with pytest.raises(ProviderFileError, match=r"line 3: domain bigcloud\.test already belongs "
                                                r"to provider 'Big Cloud'"):
        import_provider_file(store, clash, actor="alice")
    assert "New Co" not in {p.name for p in list_providers(store)}


def test_registered_domain_uses_bundled_suffix_list() -> None:
    assert registered_domain("a.b.example.co.uk") == "example.co.uk"
    assert registered_domain("127.0.0.1") == "127.0.0.1"
    assert registered_domain("img.site.test") == "site.test"


# --- CLI ---------------------------------------------------------------------------------


def run(db_url: str, *args: str, actor: str | None = "alice"):
    from click.testing import CliRunner

    from crawler.cli.main import cli

    base = ["--db", db_url] + (["--as", actor] if actor else [])
    return CliRunner().invoke(cli, [*base, *args], env={"TRAWL_USER": ""})


def test_cli_providers_import_and_list(db_url: str, store, tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    out = run(db_url, "providers", "import", str(path), actor=None)
    assert out.exit_code != 0
    assert "--as NAME" in out.output
    out = run(db_url, "providers", "import", str(path))
    assert out.exit_code == 0, out.output
    assert "3 provider(s)" in out.output
    assert "5 IP range(s)" in out.output
    out = run(db_url, "providers", "list", "--format", "json")
    listed = json.loads(out.output)
    assert [p["name"] for p in listed] == ["Big Cloud", "Big Cloud Europe", "Tiny Host"]
    assert listed[0]["ranges"] == ["10.0.0.0/8", "2001:db8::/32"]
    bad = write(tmp_path, GOOD + "Broken,,,10.0.0.0/33,\n", "bad.csv")
    out = run(db_url, "providers", "import", str(bad))
    assert out.exit_code != 0
    assert "line 5:" in out.output
    assert "nothing was imported" in out.output
