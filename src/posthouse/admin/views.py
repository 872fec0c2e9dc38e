"""The web admin's HTML: the layout and one function per page or form, all through
``html.render`` (every value escaped). Plain server-rendered forms: no script anywhere, the
one stylesheet from /admin/static/. Never reads the store: handlers pass the values in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote

from posthouse.admin.dnscheck import OK, UNCHECKED, RecordCheck
from posthouse.admin.html import Html, join, render
from posthouse.admin.operations import MIB, AccountRow, StoreFigures, pending_recipients
from posthouse.store.models import Alias, QueuedMessage

NAV = (("status", "/admin/status", "Status"), ("domains", "/admin/domains", "Domains"),
       ("users", "/admin/users", "Users"), ("aliases", "/admin/aliases", "Aliases"),
       ("queue", "/admin/queue", "Queue"), ("logs", "/admin/logs", "Log"))

# Removing a domain or an account deletes mail: the browser asks for this box first.
CONFIRM = Html('<label class="check confirm"><input type="checkbox" name="confirm" value="yes"'
               ' required> sure</label> ')

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} - posthouse admin</title>
<link rel="stylesheet" href="/admin/static/admin.css">
</head>
<body>
<header>
<a class="brand" href="/admin/status">posthouse</a>
<nav>{nav}</nav>
{account}
</header>
<main>
<h1>{title}</h1>
{notices}
{content}
</main>
</body>
</html>
"""

_ACCOUNT = """<form class="logout" method="post" action="/admin/logout">
<input type="hidden" name="csrf" value="{csrf}">
<span class="who">{address}</span> <button type="submit">Log out</button>
</form>"""


def page(title: str, content: Html, *, current: str = "", address: str = "", csrf: str = "",
         notices: Sequence[str] = (), errors: Sequence[str] = ()) -> Html:
    """A whole page: the header with the navigation (when logged in) and the content."""
    nav = join(
        render('<a href="{href}"{cls}>{label}</a>', href=href, label=label,
               cls=Html(' class="current"' if key == current else ""))
        for key, href, label in NAV) if address else Html("")
    account = render(_ACCOUNT, csrf=csrf, address=address) if address else Html("")
    boxes = join([*(render('<p class="notice">{n}</p>', n=n) for n in notices),
                  *(render('<p class="error" role="alert">{e}</p>', e=e) for e in errors)])
    return render(_PAGE, title=title, nav=nav, account=account, notices=boxes,
                  content=content)


def hidden_csrf(csrf: str) -> Html:
    """The CSRF field every form carries."""
    return render('<input type="hidden" name="csrf" value="{csrf}">', csrf=csrf)


def post_form(action: str, csrf: str, fields: Html, button: str, *,
              cls: str = "inline", danger: bool = False) -> Html:
    """A POST form with its CSRF token."""
    return render('<form class="{cls}" method="post" action="{action}">{token}{fields}'
                  '<button type="submit"{danger}>{button}</button></form>',
                  cls=cls, action=action, token=hidden_csrf(csrf), fields=fields,
                  button=button, danger=Html(' class="danger"' if danger else ""))


def hidden(name: str, value: object) -> Html:
    """A hidden form field."""
    return render('<input type="hidden" name="{name}" value="{value}">', name=name,
                  value=value)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *,
          empty: str = "none", cls: str = "") -> Html:
    """A table; cells that are Html go in as they are, others are escaped."""
    if not rows:
        return render('<p class="empty">{empty}</p>', empty=empty)
    head = join(render("<th>{h}</th>", h=h) for h in headers)
    body = join(render("<tr>{cells}</tr>", cells=join(render("<td>{c}</td>", c=c) for c in row))
                for row in rows)
    return render('<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
                  "</table>", head=head, body=body, cls=cls)


def login(token: str, *, error: str = "") -> Html:
    """The login page."""
    content = render("""<form class="login" method="post" action="/admin/login">
<input type="hidden" name="csrf" value="{token}">
<label>Address
<input type="email" name="address" autocomplete="username" required autofocus></label>
<label>Password
<input type="password" name="password" autocomplete="current-password" required></label>
<button type="submit">Log in</button>
</form>
<p class="hint">An account with the admin role
(<code>posthouse user set-role ADDRESS admin</code>).</p>""",
                     token=token)
    return page("Log in", content, errors=[error] if error else [])


def _size(value: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024  # type: ignore[assignment]
    return str(value)


def _duration(seconds: float) -> str:
    s = int(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    return (f"{days}d " if days else "") + f"{hours:02d}:{minutes:02d}:{s:02d}"


def status(*, hostname: str, started: datetime, uptime: float,
           listeners: Sequence[tuple[str, str]], data_dir: str, store_bytes: int,
           figures: StoreFigures, entries: Sequence[tuple[str, str]], tls_reports: bool,
           csrf: str) -> Html:
    """The status page's content."""
    facts = table(("", ""), [
        ("Host name", hostname),
        ("Started", f"{started:%Y-%m-%d %H:%M:%S} UTC"),
        ("Uptime", _duration(uptime)),
        ("Data directory", data_dir),
        ("Data on disk", _size(store_bytes)),
        ("Domains", f"{len(figures.domains)}"),
        ("Accounts", f"{figures.users}"),
        ("Stored messages", f"{figures.messages} ({_size(figures.message_bytes)})"),
        ("Queue", f"{figures.queued} messages, {figures.pending_recipients} pending "
                  f"recipients, {figures.held} held"),
    ])
    ports = table(("Listener", "Address"), listeners, empty="no listener")
    rows = [(name, value, post_form("/admin/metadata", csrf, join([
        hidden("name", name), hidden("value", "")]), "Delete", danger=True))
        for name, value in entries]
    metadata = join([table(("Entry", "Value", ""), rows, empty="no server entry"),
                     post_form("/admin/metadata", csrf, Html(
                         '<label>Entry <input name="name" required value="/shared/comment">'
                         '</label><label>Value <input name="value" required></label>'),
                         "Set", cls="add")])
    reports = post_form("/admin/tlsrpt", csrf, Html(
        '<label class="check"><input type="checkbox" name="today" value="yes"> include '
        "today's results so far</label>"), "Queue the TLS reports due now",
        cls="add") if tls_reports else Html('<p class="empty">TLS reporting is off.</p>')
    return render("""<section class="facts">{facts}</section><h2>Listeners</h2>{ports}
<h2>Server METADATA (IMAP, RFC 5464)</h2>
<p>/shared/ entries every IMAP user can read, such as <code>/shared/comment</code>.</p>
{metadata}<h2>TLS reports (RFC 8460)</h2>{reports}""",
                  facts=facts, ports=ports, metadata=metadata, reports=reports)


def domains(names: Sequence[str], users_per_domain: dict[str, int], csrf: str) -> Html:
    """The domains page's content."""
    rows = [(name, str(users_per_domain.get(name, 0)),
             render('<a href="{href}">DNS records</a>', href="/admin/dns?domain=" + quote(name)),
             post_form("/admin/domains/remove", csrf, join([hidden("domain", name), CONFIRM]),
                       "Remove with its users and mail", danger=True))
            for name in names]
    add = post_form("/admin/domains/add", csrf, Html(
        '<label>Domain <input name="domain" required placeholder="example.org"></label>'),
        "Add domain", cls="add")
    return render("{list}<h2>Add a domain</h2>{add}",
                  list=table(("Domain", "Accounts", "", ""), rows, empty="no domain yet"),
                  add=add)


_VERDICT_CLASS = {OK: "ok", UNCHECKED: "unchecked"}


def dns(domain: str, checks: Sequence[RecordCheck], comments: Sequence[str]) -> Html:
    """The DNS page: the records to publish and what DNS says now."""
    rows = [(c.name + ".", c.rtype, render("<code>{v}</code>", v=c.expected),
             render("<code>{v}</code>", v=c.found),
             render('<span class="verdict {cls}">{v}</span>',
                    cls=_VERDICT_CLASS.get(c.verdict, "bad"), v=c.verdict))
            for c in checks]
    notes = join(line.lstrip("; ") + "\n" for line in comments)
    return render("""<p>Publish these records in the zone of <strong>{domain}</strong>
(what <code>posthouse dns {domain}</code> prints). "DNS now" is what this server's resolver
answers at this moment.</p>
{table}
<h2>Notes</h2>
<pre>{notes}</pre>
<p><a href="/admin/domains">Back to the domains</a></p>""", domain=domain,
                  table=table(("Name", "Type", "Publish", "DNS now", ""), rows, cls="dns"),
                  notes=notes)


def users(rows: Sequence[AccountRow], domain_names: Sequence[str], csrf: str) -> Html:
    """The accounts page's content."""
    lines = [(render('<a href="{href}">{a}</a>', a=r.user.address,
                     href=user_link(r.user.address)),
              str(r.messages), _size(r.used_bytes),
              f"{r.user.quota_bytes // MIB} MiB" if r.user.quota_bytes else "none",
              "keep" if r.user.pop3_keep else "delete",
              r.user.role, "disabled" if r.user.disabled else "enabled")
             for r in rows]
    add = post_form("/admin/users/add", csrf, render(
        '<label>Address <input name="address" type="email" required'
        ' placeholder="alice@{d}"></label>'
        '<label>Password <input name="password" type="password" minlength="8" required'
        ' autocomplete="new-password"></label>'
        '<label>Quota (MiB, 0: none) <input name="quota" type="number" min="0" value="0">'
        '</label><label class="check"><input name="admin" type="checkbox" value="yes">'
        ' admin</label>', d=domain_names[0] if domain_names else "example.org"),
        "Add account", cls="add")
    return render("{list}<h2>Add an account</h2>{add}",
                  list=table(("Address", "Messages", "Used", "Quota", "POP3", "Role",
                              "Login"), lines, empty="no account yet"), add=add)


def _select(name: str, options: Sequence[tuple[str, str]], current: str) -> Html:
    return render('<select name="{name}">{opts}</select>', name=name, opts=join(
        render('<option value="{v}"{sel}>{label}</option>', v=v, label=label,
               sel=Html(" selected" if v == current else ""))
        for v, label in options))


def user(row: AccountRow, csrf: str) -> Html:
    """One account: its options, a new password, removal."""
    u = row.user
    who = hidden("address", u.address)
    options = post_form("/admin/users/options", csrf, render(
        "{who}<label>Quota (MiB, 0: none) <input name=\"quota\" type=\"number\" min=\"0\""
        " value=\"{quota}\"></label><label>POP3 {keep}</label><label>Role {role}</label>"
        "<label>Login {login}</label>", who=who, quota=u.quota_bytes // MIB,
        keep=_select("pop3_keep", (("no", "deletes"), ("yes", "keeps a copy")),
                     "yes" if u.pop3_keep else "no"),
        role=_select("role", (("user", "user"), ("admin", "admin")), u.role),
        login=_select("disabled", (("no", "enabled"), ("yes", "disabled")),
                      "yes" if u.disabled else "no")), "Save", cls="add")
    password = post_form("/admin/users/password", csrf, render(
        '{who}<label>New password <input name="password" type="password" minlength="8"'
        ' required autocomplete="new-password"></label>', who=who), "Set password",
        cls="add")
    remove = post_form("/admin/users/remove", csrf, join([who, CONFIRM]),
                       "Remove the account and its mail", danger=True)
    return render("""<p>{messages} messages, {used} used.</p>
<h2>Options</h2>{options}<h2>Password</h2>{password}<h2>Remove</h2>{remove}
<p><a href="/admin/users">Back to the accounts</a></p>""",
                  messages=row.messages, used=_size(row.used_bytes), options=options,
                  password=password, remove=remove)


def aliases(items: Sequence[Alias], catchalls: Sequence[tuple[str, str]],
            domain_names: Sequence[str], csrf: str) -> Html:
    """The aliases and catch-alls page's content."""
    rows = [(a.address, ", ".join(a.targets),
             post_form("/admin/aliases/remove", csrf, hidden("address", a.address), "Remove",
                       danger=True)) for a in items]
    add = post_form("/admin/aliases/add", csrf, Html(
        '<label>Address <input name="address" required></label>'
        '<label>Targets (comma or space separated) <input name="targets" required></label>'),
        "Add or replace alias", cls="add")
    current = dict(catchalls)
    catch_rows = [(f"@{d}", post_form("/admin/aliases/catchall", csrf, render(
        '{dom}<input name="target" value="{t}" placeholder="none" aria-label="target">',
        dom=hidden("domain", d), t=current.get(d, "")), "Set")) for d in domain_names]
    return render("""{list}<h2>Add an alias</h2>{add}
<h2>Catch-alls</h2><p>Mail for unknown users of a domain goes to its catch-all target (empty:
refused).</p>{catch}""",
                  list=table(("Alias", "Targets", ""), rows, empty="no alias yet"), add=add,
                  catch=table(("Domain", "Target"), catch_rows, empty="no domain yet"))


def queue(items: Sequence[QueuedMessage]) -> Html:
    """The outbound queue's list."""
    rows = [(render('<a href="/admin/queue/show?id={i}">{i}</a>', i=q.id),
             f"{q.created:%Y-%m-%d %H:%M}", f"<{q.envelope.mail_from}>",
             ", ".join(pending_recipients(q)), str(q.attempts),
             f"{q.next_attempt:%Y-%m-%d %H:%M:%S}", "held" if q.held else "",
             _size(q.size)) for q in items]
    return table(("Id", "Queued", "From", "Pending recipients", "Attempts", "Next attempt",
                  "", "Size"), rows, empty="the queue is empty")


def queued(q: QueuedMessage, csrf: str) -> Html:
    """One queued message with its recipients and the actions."""
    facts = table(("", ""), [
        ("Id", str(q.id)), ("Queued", f"{q.created:%Y-%m-%d %H:%M:%S} UTC"),
        ("From", f"<{q.envelope.mail_from}>"), ("Size", _size(q.size)),
        ("Attempts", str(q.attempts)),
        ("Next attempt", f"{q.next_attempt:%Y-%m-%d %H:%M:%S} UTC"),
        ("State", "held" if q.held else "waiting"), ("Last error", q.last_error or "")])
    rcpts = table(("Recipient", "State", "Attempts", "Last reply"), [
        (r.address, r.state.value, str(r.attempts), r.last_reply or "") for r in q.recipients])
    ident = hidden("id", q.id)
    actions = join([
        post_form("/admin/queue/action", csrf, join([ident, hidden("action", "retry")]),
                  "Retry now"),
        post_form("/admin/queue/action", csrf, join([ident, hidden(
            "action", "release" if q.held else "hold")]), "Release" if q.held else "Hold"),
        post_form("/admin/queue/action", csrf, join([ident, hidden("action", "delete")]),
                  "Delete without a bounce", danger=True)])
    return render("""{facts}<h2>Recipients</h2>{rcpts}<h2>Actions</h2>
<div class="actions">{actions}</div><p><a href="/admin/queue">Back to the queue</a></p>""",
                  facts=facts, rcpts=rcpts, actions=actions)


def logs(lines: Sequence[str]) -> Html:
    """The last log lines, newest last."""
    if not lines:
        return Html('<p class="empty">no log lines yet</p>')
    return render('<pre class="log">{text}</pre>', text="\n".join(lines))


def user_link(address: str) -> str:
    """The account page's URL (the address percent-encoded)."""
    return "/admin/user?address=" + quote(address, safe="@")


def queued_link(queue_id: str) -> str:
    """A queued message's page."""
    return "/admin/queue/show?id=" + quote(queue_id, safe="")
