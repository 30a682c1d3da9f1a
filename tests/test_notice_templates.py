"""An operator's notice --template that runs away ends in a sentence (NoticeRenderError, exit 1
in the CLI), never a traceback, a hang or gigabytes of memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from crawler.cli.main import cli
from crawler.services.notices import render
from crawler.services.notices.render import NoticeRenderer, NoticeRenderError
from storage.db import Store
from storage.notices import NoticeInfo, prepare_notices
from storage.providers import import_provider_file
from tests.takedown_helpers import T0, make_store
from tests.test_notices import PROVIDERS, confirmed_hits

pytestmark = pytest.mark.hostile


@pytest.fixture
def store(sqlite_url: str, tmp_path: Path) -> Iterator[Store]:
    s = make_store(sqlite_url)
    path = tmp_path / "providers.csv"
    path.write_text(PROVIDERS)
    import_provider_file(s, path, actor="lead")
    confirmed_hits(s)
    yield s
    s.close()


@pytest.fixture
def notice(store: Store) -> NoticeInfo:
    return prepare_notices(store, actor="tina", now=T0)[0]


def _render(tmp_path: Path, notice: NoticeInfo, source: str) -> str:
    template = tmp_path / "mine.j2"
    template.write_text(source)
    return NoticeRenderer(template=template).text(notice)


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("{% for i in range(10**9) %}x{% endfor %}", "Range too big"),
        ("{{ 'x' * 10**10 }}", "repeats a sequence 10,000,000,000 times"),
        ("{{ [0] * 10**8 }}", "repeats a sequence"),
        ("{{ 7 ** 1000000000 }}", "raises 7 to the power 1,000,000,000"),  # ** is left-assoc
        ("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "output passed 50,000,000"),
        ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "maximum recursion depth"),
        ("{% set l = [1] %}{% for i in l %}{{ l.append(i) }}{% endfor %}", "append"),
    ],
)
def test_runaway_templates_are_stopped_with_a_sentence(
    tmp_path: Path, notice: NoticeInfo, source: str, fragment: str
) -> None:
    with pytest.raises(NoticeRenderError) as caught:
        _render(tmp_path, notice, source)
    message = str(caught.value)
    assert fragment in message
    assert message.startswith(f"template {tmp_path / 'mine.j2'} ")


def test_a_loop_that_would_run_for_hours_is_stopped_by_the_time_limit(
    tmp_path: Path, notice: NoticeInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render, "RENDER_SECONDS", 0.5)
    source = ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
              "{% endfor %}")  # 10^10 empty iterations, no output
    with pytest.raises(NoticeRenderError, match=r"ran for more than 0.5 s"):
        _render(tmp_path, notice, source)


def test_other_template_faults_are_sentences_too(tmp_path: Path, notice: NoticeInfo) -> None:
    with pytest.raises(NoticeRenderError, match="failed while rendering: ZeroDivisionError"):
        _render(tmp_path, notice, "{{ 1 / 0 }}")
    with pytest.raises(NoticeRenderError, match=r"line 1: Expected an expression"):
        _render(tmp_path, notice, "{% for %}")


def test_ordinary_templates_are_unaffected(tmp_path: Path, notice: NoticeInfo) -> None:
    text = _render(tmp_path, notice, "{% for i in range(3) %}{{ i * 2 }}{{ 'ab' * 2 }}"
                                     "{{ 2 ** 10 }} {% endfor %}{{ items | length }}")
    assert text == "0abab1024 2abab1024 4abab1024 2"
    assert "TAKEDOWN NOTICE" in NoticeRenderer().text(notice)


def test_the_cli_prints_the_sentence_and_exits_1(store: Store, tmp_path: Path) -> None:
    template = tmp_path / "loop.j2"
    template.write_text("{% for i in range(10**9) %}{{ i }}{% endfor %}")
    result = CliRunner().invoke(cli, ["--db", store.url, "--as", "tina", "notices", "export",
                                      "--format", "text", "--template", str(template)])
    assert result.exit_code == 1
    assert "was stopped: Range too big" in result.output
    assert "Traceback" not in result.output
