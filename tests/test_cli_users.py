"""`trawl users` and `trawl serve` through the real CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from http.client import HTTPMessage
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from crawler.cli.main import cli
from crawler.cli.serve import is_loopback
from crawler.services import users
from storage.audit import list_audit
from storage.db import open_store

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"


def run(*args: str, input: str | None = None) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n", encoding="utf-8")
    return path


def test_add_list_disable_and_audit(sqlite_url: str, password_file: Path) -> None:
    r = run("--db", sqlite_url, "--as", "root", "users", "add", "alice", "--role", "admin",
            "--password-file", str(password_file))
    assert r.exit_code == 0, r.output
    assert r.stdout == "Added alice (admin).\n"
    r = run("--db", sqlite_url, "--as", "alice", "users", "add", "bob", "--role", "analyst",
            input=f"{PASSWORD}\n{PASSWORD}\n")
    assert r.exit_code == 0, r.output
    assert PASSWORD not in r.stdout  # the prompt hides it
    r = run("--db", sqlite_url, "users", "list", "--format", "json")
    assert [(u["name"], u["role"], u["disabled"]) for u in json.loads(r.stdout)] == [
        ("alice", "admin", False), ("bob", "analyst", False)]
    r = run("--db", sqlite_url, "--as", "alice", "users", "disable", "bob")
    assert r.exit_code == 0
    store = open_store(sqlite_url)
    try:
        assert [(e.actor, e.action) for e in list_audit(store, entity="user")] == [
            ("root", "add"), ("alice", "add"), ("alice", "disable")]
        assert users.verify_password(store, "alice", PASSWORD, remote_addr=None).name == "alice"
    finally:
        store.close()


@pytest.mark.parametrize(("typed", "message"), [
    ("\n\n", "The password is empty"),
    ("short\nshort\n", "The password is too short: use at least 12 characters"),
])
def test_short_or_empty_passwords_are_refused(sqlite_url: str, typed: str,
                                              message: str) -> None:
    r = run("--db", sqlite_url, "--as", "root", "users", "add", "alice", "--role", "admin",
            input=typed)
    assert r.exit_code == 1
    assert message in r.stderr
    assert json.loads(run("--db", sqlite_url, "users", "list", "--format", "json").stdout) == []


def test_mismatched_confirmation_asks_again(sqlite_url: str) -> None:
    r = run("--db", sqlite_url, "--as", "root", "users", "add", "alice", "--role", "admin",
            input=f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n")
    assert r.exit_code == 0, r.output
    assert "do not match" in r.output


def test_refusals_are_sentences(sqlite_url: str, password_file: Path, tmp_path: Path) -> None:
    r = run("--db", sqlite_url, "users", "add", "alice", "--role", "admin",
            "--password-file", str(password_file))
    assert r.exit_code == 1
    assert "--as NAME" in r.stderr
    r = run("--db", sqlite_url, "--as", "root", "users", "add", "Alice", "--role", "admin",
            "--password-file", str(password_file))
    assert r.exit_code == 1
    assert "lowercase" in r.stderr
    r = run("--db", sqlite_url, "--as", "root", "users", "add", "alice", "--role", "boss",
            "--password-file", str(password_file))
    assert r.exit_code == 2  # click's own check of the choice
    r = run("--db", sqlite_url, "--as", "root", "users", "add", "alice", "--role", "admin",
            "--password-file", str(tmp_path / "missing"))
    assert r.exit_code == 1
    assert "Cannot read the password file" in r.stderr
    run("--db", sqlite_url, "--as", "root", "users", "add", "alice", "--role", "admin",
        "--password-file", str(password_file))
    r = run("--db", sqlite_url, "--as", "root", "users", "add", "alice", "--role", "admin",
            "--password-file", str(password_file))
    assert r.exit_code == 1
    assert "already exists" in r.stderr
    r = run("--db", sqlite_url, "--as", "root", "users", "disable", "alice")
    assert r.exit_code == 1
    assert "only enabled administrator" in r.stderr
    r = run("--db", sqlite_url, "--as", "root", "users", "disable", "nobody")
    assert r.exit_code == 1
    assert "no user named 'nobody'" in r.stderr


def test_token_is_printed_once_and_works(sqlite_url: str, password_file: Path) -> None:
    run("--db", sqlite_url, "--as", "root", "users", "add", "alice", "--role", "admin",
        "--password-file", str(password_file))
    r = run("--db", sqlite_url, "--as", "root", "users", "token", "alice", "--label", "ci")
    assert r.exit_code == 0
    token = r.stdout.strip()
    assert token.startswith("trawl_")
    assert "shown once" in r.stderr
    r = run("--db", sqlite_url, "users", "tokens", "--format", "json")
    listed = json.loads(r.stdout)
    assert [(t["user_name"], t["label"]) for t in listed] == [("alice", "ci")]
    assert token not in r.stdout
    store = open_store(sqlite_url)
    try:
        user = users.user_for_token(store, token)
        assert user is not None
        assert user.name == "alice"
    finally:
        store.close()
    r = run("--db", sqlite_url, "--as", "root", "users", "revoke-token", str(listed[0]["id"]))
    assert r.exit_code == 0
    store = open_store(sqlite_url)
    try:
        assert users.user_for_token(store, token) is None
    finally:
        store.close()


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("127.0.0.2")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("192.0.2.1")


def test_serve_warns_off_loopback_without_tls(sqlite_url: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    # Nothing may listen beyond loopback in tests: record how uvicorn would be started.
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    r = run("--db", sqlite_url, "serve", "--host", "0.0.0.0", "--port", "8123")
    assert r.exit_code == 0, r.output
    assert "without TLS" in r.stderr
    assert calls[0]["host"] == "0.0.0.0"
    assert calls[0]["proxy_headers"] is False
    r = run("--db", sqlite_url, "serve")
    assert "without TLS" not in r.stderr
    assert calls[1]["host"] == "127.0.0.1"
    assert calls[1]["port"] == 8000
    r = run("--db", sqlite_url, "serve", "--trust-proxy", "proxy.example")
    assert r.exit_code == 1
    assert "not an IP address" in r.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Served:
    """A `trawl serve` subprocess on a free loopback port; `err` is its stderr once it ended."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.err = ""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli.main", *args, "--port", str(self.port)],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def answers(self, request: urllib.request.Request, count: int,
                within: float) -> list[tuple[int, HTTPMessage, bytes]]:
        """`count` answers to `request`, retried while the server is still starting."""
        deadline = time.monotonic() + within
        got = []
        while len(got) < count:
            assert self.proc.poll() is None, self.proc.communicate()[1]
            try:
                with urllib.request.urlopen(request, timeout=5) as r:
                    got.append((r.status, r.headers, r.read()))
            except OSError:
                assert time.monotonic() < deadline, f"trawl serve did not answer in {within} s"
                time.sleep(0.2)
        return got

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        _, self.err = self.proc.communicate(timeout=30)


def test_trawl_serve_answers_on_loopback(sqlite_url: str) -> None:
    with Served("serve", env={"TRAWL_DATABASE_URL": sqlite_url}) as served:
        url = f"http://127.0.0.1:{served.port}/login"
        [(status, headers, _)] = served.answers(urllib.request.Request(url), 1, within=60)
    assert status == 200
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers.get("Server") is None
    assert f"Trawl on http://127.0.0.1:{served.port}/" in served.err


def test_the_cli_loads_no_web_framework() -> None:
    # Every crawl the scheduler starts is `python -m crawler.cli.main`: keep it lean.
    code = ("import sys, crawler.cli.main; print(sorted({m.split('.')[0] for m in sys.modules}"
            " & {'fastapi', 'starlette', 'uvicorn', 'playwright'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout
    assert out.strip() == "[]"


def test_trawl_serve_with_several_server_processes(sqlite_url: str, password_file: Path) -> None:
    """--workers 2: uvicorn's processes each build the app from the environment, and a
    token (kept in the database) works whichever process answers."""
    run("--db", sqlite_url, "--as", "root", "users", "add", "alice", "--role", "admin",
        "--password-file", str(password_file))
    token = run("--db", sqlite_url, "--as", "root", "users", "token", "alice").stdout.strip()
    with Served("--db", sqlite_url, "serve", "--workers", "2") as served:
        request = urllib.request.Request(f"http://127.0.0.1:{served.port}/api/v1/me",
                                         headers={"Authorization": f"Bearer {token}"})
        answers = [(status, json.loads(body)["name"])
                   for status, _, body in served.answers(request, 20, within=90)]
    assert answers == [(200, "alice")] * 20
    assert f"Trawl on http://127.0.0.1:{served.port}/ with 2 server process(es)" in served.err
