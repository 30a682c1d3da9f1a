"""`trawl users`: the accounts of `trawl serve` (add, list, disable, enable, API tokens)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from crawler.cli.common import (
    emit,
    format_option,
    opened_store,
    pass_config,
    require_actor,
)
from crawler.errors import TrawlError
from storage.roles import ROLES

if TYPE_CHECKING:
    from crawler.config import Config

USER_COLUMNS = ("id", "name", "role", "disabled", "created_at")
TOKEN_COLUMNS = ("id", "user_name", "label", "created_at", "last_used_at", "revoked_at")


def _read_password_file(path: Path) -> str:
    """The file's first line, without its line ending (so `echo pw > file` works)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TrawlError(f"Cannot read the password file {path}: {exc}.") from None
    return text.splitlines()[0] if text else ""


def _password(password_file: Path | None) -> str:
    from crawler.services import users as user_service

    if password_file is not None:
        password = _read_password_file(password_file)
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True,
                                default="", show_default=False)
    return user_service.check_password(password)


@click.group("users")
def users_group() -> None:
    """Manage who may sign in to `trawl serve` and use its API; every change is audited."""


@users_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="analyst: review, seeds, crawls; takedown: providers, notices, recheck; "
                   "admin: everything, plus accounts and hash lists.")
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Read the password from the first line of this file "
                                 "instead of prompting.")
@format_option()
@pass_config
def add_command(config: Config, name: str, role: str, password_file: Path | None,
                fmt: str) -> None:
    """Add an account; the password is asked for twice (hidden) unless --password-file.

    Example: trawl --as alice users add bob --role analyst
    """
    from crawler.services import users as user_service

    actor = require_actor(config)
    user_service.check_name(name)  # before the password prompt
    password = _password(password_file)
    with opened_store(config) as store:
        added = user_service.add_user(store, name, role, password, actor=actor)
    if fmt == "table":
        click.echo(f"Added {added.name} ({added.role}).")
        return
    emit([added], fmt, USER_COLUMNS)


@users_group.command("list")
@format_option(("table", "json", "csv"))
@pass_config
def list_command(config: Config, fmt: str) -> None:
    """List accounts."""
    from crawler.services import users as user_service

    with opened_store(config) as store:
        emit(user_service.list_users(store), fmt, USER_COLUMNS)


@users_group.command("disable")
@click.argument("name")
@pass_config
def disable_command(config: Config, name: str) -> None:
    """Disable an account: its sessions end now and its API tokens stop working."""
    from crawler.services import users as user_service

    actor = require_actor(config)
    with opened_store(config) as store:
        user_service.disable_user(store, name, actor=actor)
    click.echo(f"Disabled {name}.")


@users_group.command("enable")
@click.argument("name")
@pass_config
def enable_command(config: Config, name: str) -> None:
    """Enable a disabled account again (its unrevoked tokens work again)."""
    from crawler.services import users as user_service

    actor = require_actor(config)
    with opened_store(config) as store:
        user_service.enable_user(store, name, actor=actor)
    click.echo(f"Enabled {name}.")


@users_group.command("token")
@click.argument("name")
@click.option("--label", default=None, help="What the token is for (shown in listings).")
@format_option(("text", "json"))
@pass_config
def token_command(config: Config, name: str, label: str | None, fmt: str) -> None:
    """Issue an API token for NAME and print it once (only its hash is kept).

    Example: TOKEN=$(trawl --as alice users token bob --label nightly-export)
    """
    from crawler.services import users as user_service

    actor = require_actor(config)
    with opened_store(config) as store:
        issued = user_service.issue_token(store, name, label, actor=actor)
    if fmt == "json":
        emit([{"token": issued.token, **asdict(issued.info)}], fmt)
        return
    click.echo(f"API token {issued.info.id} for {name}: shown once, store it now.", err=True)
    click.echo(issued.token)


@users_group.command("tokens")
@click.argument("name", required=False)
@format_option(("table", "json", "csv"))
@pass_config
def tokens_command(config: Config, name: str | None, fmt: str) -> None:
    """List API tokens (never the tokens themselves), of one account or all."""
    from crawler.services import users as user_service

    with opened_store(config) as store:
        emit(user_service.list_tokens(store, name), fmt, TOKEN_COLUMNS)


@users_group.command("revoke-token")
@click.argument("token_id", type=int)
@pass_config
def revoke_command(config: Config, token_id: int) -> None:
    """Revoke an API token for good."""
    from crawler.services import users as user_service

    actor = require_actor(config)
    with opened_store(config) as store:
        token = user_service.revoke_token(store, token_id, actor=actor)
    click.echo(f"Revoked token {token.id} of {token.user_name}.")


def register(cli: click.Group) -> None:
    """Add `trawl users` to the top-level group."""
    cli.add_command(users_group)
