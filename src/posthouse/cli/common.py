"""What every CLI command shares: finding the config, opening the store, reading passwords."""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from posthouse.admin.operations import AdminError
from posthouse.config import CONFIG_NAME, Config, ServerConfig, load_config
from posthouse.store.api import Store


class CliError(AdminError):
    """A user-facing failure: printed as one line, exit status 1 (as every AdminError)."""


def add_location_args(parser: argparse.ArgumentParser) -> None:
    """--config and --data-dir, accepted by every command."""
    parser.add_argument("--config", type=Path, help="TOML config file "
                        "(default: <data-dir>/posthouse.toml if it exists)")
    parser.add_argument("--data-dir", type=Path, help="data directory "
                        "(default: from the config, else ./posthouse-data)")


def resolve_config(args: argparse.Namespace) -> Config:
    """Load the config the arguments point at; --data-dir overrides the file's data_dir."""
    path: Path | None = args.config
    data_dir: Path | None = args.data_dir
    if path is None and data_dir is not None and (data_dir / CONFIG_NAME).exists():
        path = data_dir / CONFIG_NAME
    if path is None and data_dir is None and Path("posthouse-data", CONFIG_NAME).exists():
        path = Path("posthouse-data", CONFIG_NAME)
    cfg = load_config(path)
    if data_dir is not None:
        server = dataclasses.replace(cfg.server, data_dir=str(data_dir.resolve()))
        cfg = dataclasses.replace(cfg, server=server)
    return cfg


def with_server(cfg: Config, **changes: Any) -> Config:
    """A copy of cfg with [server] keys changed."""
    server: ServerConfig = dataclasses.replace(cfg.server, **changes)
    return dataclasses.replace(cfg, server=server)


@asynccontextmanager
async def open_store(cfg: Config) -> AsyncIterator[Store]:
    """Open the configured store for an admin command (app.py picks the backend)."""
    from posthouse.app import build_store

    if not cfg.data_path.exists():
        raise CliError(f"data directory {cfg.data_path} does not exist: run 'posthouse init'")
    store = build_store(cfg, background=False)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def read_new_password(args: argparse.Namespace) -> str:
    """A new password from stdin (--password-stdin) or an interactive prompt, never argv."""
    if getattr(args, "password_stdin", False):
        pw = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise CliError("no terminal to prompt for the password: use --password-stdin")
        pw = getpass.getpass("New password: ")
        if getpass.getpass("Repeat it: ") != pw:
            raise CliError("the passwords do not match")
    if len(pw) < 8:
        raise CliError("the password must have at least 8 characters")
    return pw
