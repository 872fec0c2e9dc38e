"""The JMAP API endpoint's engine: one request in, one response out (RFC 8620 3).

``JmapApi.run`` checks the request object (3.3) and its limits before anything runs, then
calls each method in order with its result references resolved (3.7) and turns a failed
call into an ``error`` response (3.6.2) while the others go on. Method families register
their handlers in ``METHODS`` (name -> capability, handler). Never does HTTP.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from posthouse.jmap import errors
from posthouse.jmap.account import AccountView, AccountViews
from posthouse.jmap.errors import JmapMethodError, JmapRequestProblem, invalid
from posthouse.jmap.limits import CORE, MAIL, SUBMISSION, VACATION, JmapLimits
from posthouse.jmap.pointer import PointerError, evaluate
from posthouse.jmap.uploads import UploadArea
from posthouse.store.api import Store

if TYPE_CHECKING:
    from posthouse.delivery.submit import Submitter

log = logging.getLogger("posthouse.jmap")

CAPABILITIES = frozenset({CORE, MAIL, SUBMISSION, VACATION})


def account_id_of(user_id: int) -> str:
    """The JMAP accountId of a user (one account per user)."""
    return f"A{user_id}"


@dataclass
class CallContext:
    """What a method handler gets besides its arguments."""

    store: Store
    limits: JmapLimits
    user_id: int
    address: str
    created_ids: dict[str, str]
    origin: object
    views: AccountViews
    uploads: UploadArea
    submitter: Submitter | None = None
    # responses a method adds after its own (RFC 8621 7.5: the implicit Email/set)
    implicit: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    peer: str = ""  # the client's IP address ("" when not known)
    _view: AccountView | None = field(default=None, repr=False)

    async def view(self) -> AccountView:
        """The account as of now (read once, again after a change this request made)."""
        if self._view is None:
            self._view = await self.views.current(self.user_id)
        return self._view

    def changed(self) -> None:
        """This request changed the account: the next ``view()`` reads it again."""
        self._view = None

    def check_account(self, args: dict[str, Any]) -> None:
        """accountId must be this user's account (RFC 8620 3.6.2 accountNotFound)."""
        account = args.get("accountId")
        if not isinstance(account, str):
            raise invalid("accountId is required and must be a string")
        if account != account_id_of(self.user_id):
            raise JmapMethodError(errors.ACCOUNT_NOT_FOUND)


Handler = Callable[[CallContext, dict[str, Any]], Awaitable[dict[str, Any]]]
METHODS: dict[str, tuple[str, Handler]] = {}


def method(name: str, capability: str = MAIL) -> Callable[[Handler], Handler]:
    """Register a method handler under its JMAP name."""

    def register(handler: Handler) -> Handler:
        METHODS[name] = (capability, handler)
        return handler

    return register


@method("Core/echo", CORE)
async def core_echo(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    """RFC 8620 4: the arguments back, unchanged."""
    return args


def session_state(user_id: int) -> str:
    """The session object's state: it changes only when what the session says does."""
    text = f"{account_id_of(user_id)}:{','.join(sorted(CAPABILITIES))}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class JmapApi:
    """Runs API requests for authenticated users."""

    def __init__(self, store: Store, limits: JmapLimits, uploads: UploadArea,
                 submitter: Submitter | None = None) -> None:
        self.store = store
        self.submitter = submitter
        self.limits = limits
        self.uploads = uploads
        self.views = AccountViews(store)

    def parse(self, body: bytes) -> dict[str, Any]:
        """The request object, checked (RFC 8620 3.3, 3.6.1); JmapRequestProblem if not."""
        if len(body) > self.limits.max_size_request:
            raise JmapRequestProblem(errors.LIMIT, "the request is larger than maxSizeRequest",
                                     limit="maxSizeRequest")
        try:
            request = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise JmapRequestProblem(errors.NOT_JSON, "the body is not UTF-8 JSON") from None
        if not isinstance(request, dict):
            raise JmapRequestProblem(errors.NOT_REQUEST, "the body is not a JSON object")
        using, calls = request.get("using"), request.get("methodCalls")
        if not isinstance(using, list) or not all(isinstance(u, str) for u in using):
            raise JmapRequestProblem(errors.NOT_REQUEST, "using must be an array of strings")
        if not isinstance(calls, list):
            raise JmapRequestProblem(errors.NOT_REQUEST, "methodCalls must be an array")
        for call in calls:
            if (not isinstance(call, list) or len(call) != 3 or not isinstance(call[0], str)
                    or not isinstance(call[1], dict) or not isinstance(call[2], str)):
                raise JmapRequestProblem(
                    errors.NOT_REQUEST, "each method call is [name, arguments, callId]")
        created = request.get("createdIds")
        if created is not None and (not isinstance(created, dict) or not all(
                isinstance(v, str) for v in created.values())):
            raise JmapRequestProblem(errors.NOT_REQUEST, "createdIds must map ids to ids")
        unknown = [u for u in using if u not in CAPABILITIES]
        if unknown:
            raise JmapRequestProblem(errors.UNKNOWN_CAPABILITY,
                                     f"unsupported capability {unknown[0]}")
        if len(calls) > self.limits.max_calls_in_request:
            raise JmapRequestProblem(errors.LIMIT, "too many method calls",
                                     limit="maxCallsInRequest")
        return request

    async def run(self, request: dict[str, Any], user_id: int, address: str,
                  origin: object, peer: str = "") -> dict[str, Any]:
        """Run a parsed request's calls in order (RFC 8620 3.4)."""
        using = set(request["using"])
        created_in = request.get("createdIds")
        ctx = CallContext(self.store, self.limits, user_id, address,
                          dict(created_in or {}), origin, self.views, self.uploads,
                          self.submitter, peer=peer)
        responses: list[list[Any]] = []
        for name, args, call_id in request["methodCalls"]:
            try:
                found = METHODS.get(name)
                if found is None or found[0] not in using:
                    raise JmapMethodError(errors.UNKNOWN_METHOD, f"no method {name}")
                resolved = resolve_references(args, responses)
                result = await found[1](ctx, resolved)
                responses.append([name, result, call_id])
                responses += [[n, r, call_id] for n, r in ctx.implicit]
            except JmapMethodError as exc:
                responses.append(["error", exc.arguments(), call_id])
            except Exception:
                log.exception("JMAP method %s failed", name)
                ctx.changed()
                responses.append(["error", {"type": errors.SERVER_FAIL}, call_id])
            finally:
                ctx.implicit.clear()
        out: dict[str, Any] = {"methodResponses": responses,
                               "sessionState": session_state(user_id)}
        if created_in is not None:
            out["createdIds"] = ctx.created_ids
        return out


def resolve_references(args: dict[str, Any], responses: list[list[Any]]) -> dict[str, Any]:
    """Arguments with every ``#name`` ResultReference replaced by its value (RFC 8620 3.7)."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        if not key.startswith("#"):
            out[key] = value
    for key, value in args.items():
        if not key.startswith("#"):
            continue
        plain = key[1:]
        if plain in args:
            raise invalid(f"both {plain} and #{plain} given")
        if (not isinstance(value, dict) or not isinstance(value.get("resultOf"), str)
                or not isinstance(value.get("name"), str)
                or not isinstance(value.get("path"), str)):
            raise JmapMethodError(errors.INVALID_RESULT_REFERENCE,
                                  f"#{plain} is not a ResultReference")
        out[plain] = _reference_value(value, responses)
    if isinstance(out.get("filter"), dict):
        out["filter"] = _filter_references(out["filter"], responses)
    return out


def _filter_references(node: dict[str, Any], responses: list[list[Any]]) -> dict[str, Any]:
    """References inside a /query filter (``{"#inMailbox": ...}``), resolved as at the top
    level. RFC 8620 3.7 defines them for arguments only; clients written against Fastmail
    (jmapc) also send them in FilterConditions, where a "#" key has no other meaning."""
    out = resolve_references(node, responses)
    conditions = out.get("conditions")
    if isinstance(conditions, list):
        out["conditions"] = [_filter_references(c, responses) if isinstance(c, dict) else c
                             for c in conditions]
    return out


def _reference_value(ref: dict[str, Any], responses: list[list[Any]]) -> Any:
    for name, result, call_id in responses:
        if call_id == ref["resultOf"]:
            if name != ref["name"]:
                raise JmapMethodError(errors.INVALID_RESULT_REFERENCE,
                                      f"{ref['resultOf']} answered {name}, not {ref['name']}")
            try:
                return evaluate(result, ref["path"])
            except PointerError as exc:
                raise JmapMethodError(errors.INVALID_RESULT_REFERENCE, str(exc)) from None
    raise JmapMethodError(errors.INVALID_RESULT_REFERENCE,
                          f"no earlier response with callId {ref['resultOf']}")
