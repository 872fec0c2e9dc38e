"""Accounts as JSON: domains with their catch-alls, users (password hashes, SCRAM secrets,
quota, POP3 keep), aliases and the server's /shared/ METADATA entries, so that a whole
server can be set up again elsewhere.

Import is idempotent: what is already there exactly as in the file is left alone; anything
that exists with other values is a conflict, and then nothing at all is changed.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from posthouse.store.api import Store
from posthouse.store.models import ROLES

FORMAT = "posthouse-accounts"
VERSION = 1
_SERVER = 0  # mailbox_id and owner of the server's /shared/ entries
_REQUIRED: dict[str, dict[str, type]] = {
    "domains": {"name": str},
    "users": {"address": str, "password_hash": str},
    "aliases": {"address": str, "targets": list},
    "server_metadata": {"name": str, "value": str},
}


class AccountsFileError(ValueError):
    """The file is not an accounts export this program reads."""


class AccountConflict(Exception):
    """Things in the file exist here with other values; ``conflicts`` names each."""

    def __init__(self, conflicts: list[str]) -> None:
        super().__init__(f"{len(conflicts)} conflict(s): " + "; ".join(conflicts))
        self.conflicts = conflicts


@dataclass(slots=True)
class AccountsImported:
    """How many of each were added (the rest were there already)."""

    added: dict[str, int] = field(default_factory=dict)
    unchanged: int = 0


async def export_accounts(store: Store) -> dict[str, Any]:
    """Everything about the accounts, as a JSON-ready dict (it holds password hashes)."""
    domains = [{"name": d, "catchall": await store.get_catchall(d)}
               for d in await store.list_domains()]
    users = [{"address": u.address, "password_hash": u.password_hash,
              "scram_secrets": u.scram_secrets, "quota_bytes": u.quota_bytes,
              "pop3_keep": u.pop3_keep, "role": u.role, "disabled": u.disabled}
             for u in await store.list_users()]
    aliases = [{"address": a.address, "targets": list(a.targets)}
               for a in await store.list_aliases()]
    entries = await store.get_metadata(_SERVER, _SERVER, ["/shared"], depth=None)
    metadata = [{"name": n, "value": base64.b64encode(v).decode("ascii")} for n, v in entries]
    return {"format": FORMAT, "version": VERSION, "domains": domains, "users": users,
            "aliases": aliases, "server_metadata": metadata}


def _check(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise AccountsFileError(f"not a {FORMAT} file")
    if data.get("version") != VERSION:
        raise AccountsFileError(f"version {data.get('version')!r} is not {VERSION}")
    for key, fields in _REQUIRED.items():
        entries = data.get(key, [])
        if not isinstance(entries, list):
            raise AccountsFileError(f"{key!r} is not a list")
        for number, entry in enumerate(entries, 1):
            for name, kind in fields.items():
                if not isinstance(entry, dict) or not isinstance(entry.get(name), kind):
                    raise AccountsFileError(f"{key} entry {number}: {name!r} missing or not "
                                            f"a {kind.__name__}")
    for number, entry in enumerate(data.get("users", []), 1):
        if entry.get("role", "user") not in ROLES:
            raise AccountsFileError(f"users entry {number}: role {entry.get('role')!r} is not "
                                    f"one of {', '.join(ROLES)}")
    return data


async def _conflicts(store: Store, data: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for d in data.get("domains", []):
        if await store.is_local_domain(d["name"]):
            here = await store.get_catchall(d["name"])
            if d.get("catchall") and here not in (None, d["catchall"]):
                found.append(f"domain {d['name']}: catch-all is {here}, file says "
                             f"{d['catchall']}")
    for u in data.get("users", []):
        user = await store.get_user(u["address"])
        if user is None:
            continue
        if user.password_hash != u["password_hash"]:
            found.append(f"user {u['address']}: exists with another password")
        if (user.quota_bytes, user.pop3_keep) != (u.get("quota_bytes", 0),
                                                  u.get("pop3_keep", False)):
            found.append(f"user {u['address']}: exists with another quota or POP3 keep")
        if (user.role, user.disabled) != (u.get("role", "user"), u.get("disabled", False)):
            found.append(f"user {u['address']}: exists with another role or disabled state")
    for a in data.get("aliases", []):
        alias = await store.get_alias(a["address"])
        if alias is not None and list(alias.targets) != a["targets"]:
            found.append(f"alias {a['address']}: exists with targets "
                         f"{', '.join(alias.targets)}")
        if alias is None and await store.get_user(a["address"]) is not None:
            found.append(f"alias {a['address']}: a user has that address")
    entries = dict(await store.get_metadata(_SERVER, _SERVER, ["/shared"], depth=None))
    for m in data.get("server_metadata", []):
        value = base64.b64decode(m["value"])
        if m["name"] in entries and entries[m["name"]] != value:
            found.append(f"server metadata {m['name']}: has another value")
    return found


async def import_accounts(store: Store, raw: Any) -> AccountsImported:
    """Create what the file has and this store lacks (AccountConflict: nothing changed)."""
    data = _check(raw)
    conflicts = await _conflicts(store, data)
    if conflicts:
        raise AccountConflict(conflicts)
    done = AccountsImported({"domains": 0, "users": 0, "aliases": 0, "catch-alls": 0,
                             "metadata": 0})
    for d in data.get("domains", []):
        if not await store.is_local_domain(d["name"]):
            await store.add_domain(d["name"])
            done.added["domains"] += 1
    for u in data.get("users", []):
        if await store.get_user(u["address"]) is not None:
            done.unchanged += 1
            continue
        await store.add_user(u["address"], u["password_hash"],
                             quota_bytes=int(u.get("quota_bytes", 0)),
                             scram_secrets=u.get("scram_secrets"))
        if u.get("pop3_keep") or u.get("role", "user") != "user" or u.get("disabled"):
            # a file from before roles existed has neither key: a plain, enabled account
            await store.set_user_options(u["address"], pop3_keep=bool(u.get("pop3_keep")),
                                         role=str(u.get("role", "user")),
                                         disabled=bool(u.get("disabled", False)))
        done.added["users"] += 1
    for a in data.get("aliases", []):
        if await store.get_alias(a["address"]) is None:
            await store.add_alias(a["address"], a["targets"])
            done.added["aliases"] += 1
    for d in data.get("domains", []):
        if d.get("catchall") and await store.get_catchall(d["name"]) is None:
            await store.set_catchall(d["name"], d["catchall"])
            done.added["catch-alls"] += 1
    present = dict(await store.get_metadata(_SERVER, _SERVER, ["/shared"], depth=None))
    for m in data.get("server_metadata", []):
        if m["name"] not in present:
            await store.set_server_metadata(m["name"], base64.b64decode(m["value"]))
            done.added["metadata"] += 1
    return done
