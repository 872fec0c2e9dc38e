"""/queryChanges (RFC 8620 5.6) from the query's results now and the ids that changed. Pure.

No query result is kept. The client's old results are rebuilt from this: an object that
did not change since the old state has the same filter and sort values as then, so it is in
the new results exactly when it was in the old ones, and in the same order relative to the
other unchanged ones. So ``removed`` is every changed id that may have been in the old
results (5.6 allows extra ids), and ``added`` every changed id in the new results with its
index: removing the first from the old list and splicing in the second, lowest index first,
gives the new list. The callers say what "changed" means for their query (an Email whose
keywords changed matters only to a filter or sort on keywords; a thread-wide condition or
collapseThreads makes every Email of a changed thread changed).
"""

from __future__ import annotations

from typing import Any

from posthouse.jmap import errors
from posthouse.jmap.errors import JmapMethodError, invalid


def query_changes_args(args: dict[str, Any]) -> tuple[str, int | None, str | None]:
    """``sinceQueryState``, ``maxChanges`` and ``upToId`` (5.6), checked."""
    since = args.get("sinceQueryState")
    if not isinstance(since, str):
        raise invalid("sinceQueryState must be a string")
    most = args.get("maxChanges")
    if most is not None and (not isinstance(most, int) or isinstance(most, bool) or most < 1):
        raise invalid("maxChanges must be a positive integer or null")
    up_to = args.get("upToId")
    if up_to is not None and not isinstance(up_to, str):
        raise invalid("upToId must be an Id or null")
    return since, most, up_to


def query_changes_response(args: dict[str, Any], account_id: str, new_state: str,
                           results: list[str], changed: set[str], created: set[str],
                           immutable: bool) -> dict[str, Any]:
    """The /queryChanges answer. ``results``: the whole query result now; ``changed``: ids
    whose membership or position may differ from the old state; ``created``: those of them
    that did not exist then (never in the old results); ``immutable``: the filter and sort
    read only properties that never change (upToId applies)."""
    since, most, up_to = query_changes_args(args)
    removed = sorted(changed - created)
    last = len(results)
    # 5.6: with an immutable filter and sort the client may hold only the results up to
    # upToId; what lies past it is left out (upToId itself unchanged, or it moved)
    if immutable and up_to is not None and up_to not in changed and up_to in results:
        last = results.index(up_to)
    added = [{"id": i, "index": n} for n, i in enumerate(results)
             if i in changed and n <= last]
    if most is not None and len(removed) + len(added) > most:
        raise JmapMethodError(errors.TOO_MANY_CHANGES, "more changes than maxChanges")
    out: dict[str, Any] = {"accountId": account_id, "oldQueryState": since,
                           "newQueryState": new_state, "removed": removed, "added": added}
    if args.get("calculateTotal"):
        out["total"] = len(results)
    return out
