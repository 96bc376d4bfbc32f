"""`make dev`'s inspector page, http://127.0.0.1:3000/_inspect (development stack only).

The last 200 deliveries, newest first: the request (secrets and signatures redacted), the
verification verdict, every event's outcome with its DTO (a deferred event: waiting in the work
queue, or when the worker finished it), and Skipcall's answer or the dead letter's reason; a
button sends the same request again, another replays an event's dead letter.
Plain server-rendered HTML and a small script, no build step.
"""

from __future__ import annotations

import hmac
import html
import itertools
import json
import re
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from skipcall_bridge.letters.replay import DONE

MAX_RECORDS = 200
SHOWN_BODY = 4096
REDACTED = "[redacted]"
SECRET_HEADER = re.compile(r"authorization|api-key|signature|sig-hash|token|cookie", re.I)
SECRET_PARAMETER = re.compile(r"token|code|key|secret", re.I)
# A Salesforce Outbound Message carries a live API session (its SessionId element)
SESSION_ID = re.compile(r"(<(?:[\w.-]+:)?SessionId\b[^>]*>)[^<]*(</(?:[\w.-]+:)?SessionId>)", re.I)
# A value is redacted whatever its header's name when it looks like a credential: an
# Authorization-style scheme, or a long token of letters and digits (a custom `X-Auth`).
SECRET_VALUE = re.compile(
    r"(?i)^\s*(?:bearer|basic|token)\s+\S|^(?=.*[A-Za-z])(?=.*\d)[\w\-+/=.:~]{16,}$"
)
# The buttons' POSTs carry this header; a page of another origin can neither read the token
# nor send a custom header to 127.0.0.1 without a CORS preflight this server never answers.
TOKEN_HEADER = "x-inspector-token"  # noqa: S105 - a header's name


@dataclass(frozen=True)
class Exchange:
    """One request through the local gateway and the handler's answer."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    result: dict[str, Any]
    seconds: float
    # why the credential was refused, as the receiver logged it (the answer never says)
    refusal: str = ""


@dataclass(frozen=True)
class Record:
    number: int
    at: float
    exchange: Exchange
    dtos: dict[str, Any]  # delivery id -> the DTO the event mapped to (or its errors)


@dataclass(frozen=True)
class Replayed:
    """What the Replay button did: the replay's table, and whether the letter left the DLQ
    (done now or before), after which the event shows that instead of the button."""

    summary: str
    done: bool
    # not replayed unasked: why, in words (empty: it was replayed or found done)
    held_back: str = ""
    anyway: bool = False  # whether "Replay anyway" would send it


class Inspector:
    def __init__(
        self,
        resend: Callable[[Exchange], object],
        replay: Callable[[str, str, bool], Replayed],
        preview: Callable[[Exchange], dict[str, Any]],
        *,
        token: str | None = None,
        secret_parameters: Callable[[], frozenset[str]] = frozenset,
        say: Callable[[str], None] = lambda _: None,
    ) -> None:
        self._records: deque[Record] = deque(maxlen=MAX_RECORDS)
        self._finished: dict[tuple[str, str], float] = {}  # (source, delivery id) -> when
        self._replayed: dict[tuple[str, str], float] = {}  # the same, by the Replay button
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._resend = resend
        self._replay = replay
        self._preview = preview
        # this run's: the page hands it to its script (and the sandbox's control asks for it)
        self.token = token or secrets.token_urlsafe(24)
        self._secret_parameters = secret_parameters
        self._say = say  # the console: a replay's line

    def observe(self, exchange: Exchange) -> None:
        if exchange.path.startswith("/_inspect"):
            return
        dtos = self._preview(exchange) if exchange.path.startswith("/webhooks/") else {}
        with self._lock:
            self._records.appendleft(Record(next(self._numbers), time.time(), exchange, dtos))

    def finished(self, source: str, delivery_id: str) -> None:
        """The worker finished a deferred event (the work queue's poller says so)."""
        with self._lock:
            self._finished[(source, delivery_id)] = time.time()
            while len(self._finished) > MAX_RECORDS * 100:  # bounded, oldest first
                del self._finished[next(iter(self._finished))]

    def handle(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, str, str]:
        """(status, content type, body) for a request under /_inspect. A POST acts only with
        this run's token (the page's own script sends it): a web page of another origin that
        posts to 127.0.0.1 cannot send again or replay anything."""
        parts = [unquote(part) for part in path.split("?", 1)[0].strip("/").split("/")]
        query = dict(parse_qsl(urlsplit(path).query))
        if method == "GET" and parts == ["_inspect"]:
            return 200, "text/html; charset=utf-8", self.page()
        presented = {k.lower(): v for k, v in (headers or {}).items()}.get(TOKEN_HEADER, "")
        if method == "POST" and not hmac.compare_digest(presented.encode(), self.token.encode()):
            return 403, "text/plain", "the inspector's own buttons only"
        if method == "POST":
            return self._post(parts, body, anyway=query.get("anyway") == "1")
        return 404, "text/plain", "not found"

    def _post(self, parts: list[str], body: bytes, *, anyway: bool) -> tuple[int, str, str]:
        """The buttons (send again, replay) and `replay --dev`'s report."""
        if len(parts) == 3 and parts[1] == "resend":
            record = self._find(int(parts[2]) if parts[2].isdigit() else -1)
            if record is None:
                return 404, "text/plain", "no such delivery"
            self._resend(record.exchange)
            return 200, "text/plain", "sent again"
        if len(parts) == 4 and parts[1] == "replay":
            return self._replay_button(parts[2], parts[3], anyway=anyway)
        if parts == ["_inspect", "replays"]:
            try:
                letters = [(str(a), str(b), str(c)) for a, b, c in json.loads(body)["letters"]]
            except (ValueError, KeyError, TypeError):
                return 400, "text/plain", '{"letters": [[source, delivery id, outcome], …]}'
            self.replayed(letters, "replay")
            return 200, "text/plain", f"{len(letters)} heard"
        return 404, "text/plain", "not found"

    def _replay_button(
        self, source: str, delivery_id: str, *, anyway: bool
    ) -> tuple[int, str, str]:
        replayed = self._replay(source, delivery_id, anyway)
        if replayed.held_back:  # the page says why, and asks before "Replay anyway" (#30 13)
            refusal = {"why": replayed.held_back, "anyway": replayed.anyway}
            return 409, "application/json", json.dumps(refusal)
        if replayed.done:
            self.replayed([(source, delivery_id, "replayed")], "the inspector's Replay")
        return 200, "text/plain", replayed.summary

    def replayed(self, letters: list[tuple[str, str, str]], by: str) -> None:
        """A replay's letters: each one done shows as replayed on its delivery, and the console
        has a line for the run (replays ran unseen by both, #30 item 11)."""
        done = [(source, delivery_id) for source, delivery_id, outcome in letters
                if outcome in DONE]  # fmt: skip
        with self._lock:
            for key in done:
                self._replayed[key] = time.time()
        counts = Counter(outcome for _, _, outcome in letters)
        ids = ", ".join(delivery_id[:12] for _, delivery_id in done[:5])
        ids += " …" if len(done) > 5 else ""
        tally = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "nothing"
        self._say(f"{by}: {tally}{f' ({ids})' if ids else ''}")

    def _find(self, number: int) -> Record | None:
        with self._lock:
            return next((r for r in self._records if r.number == number), None)

    def page(self) -> str:
        with self._lock:
            records = list(self._records)
            finished = dict(self._finished)
            replayed = dict(self._replayed)
        hidden = self._secret_parameters()
        items = "\n".join(_record(record, finished, replayed, hidden) for record in records)
        items = items or "<p>No delivery yet.</p>"
        return PAGE.replace("{{records}}", items).replace("{{token}}", self.token)


def _record(
    record: Record,
    finished: dict[tuple[str, str], float],
    replayed: dict[tuple[str, str], float],
    hidden: frozenset[str] = frozenset(),
) -> str:
    exchange = record.exchange
    status = int(exchange.result.get("statusCode", 0))
    source = exchange.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    answer = _answer(exchange.result)
    verdict = (
        f"signature refused: {exchange.refusal or 'no reason logged'}"
        if status == 401
        else "verified"
        if status < 500
        else "failed"
    )
    events = _events_of(answer, record.dtos)
    rows = "".join(_event(source, event, record.dtos, finished, replayed) for event in events)
    at = time.strftime("%H:%M:%S", time.localtime(record.at))
    return f"""<details class="delivery" data-number="{record.number}">
<summary><span class="status s{status // 100}">{status}</span> {at} {html.escape(source)}
 <span class="verdict">{html.escape(verdict)}</span> {exchange.seconds * 1000:.0f} ms</summary>
<button class="resend" data-number="{record.number}">Send again</button>
<h3>Request</h3><pre class="request">{html.escape(_request(exchange, hidden))}</pre>
<h3>Events</h3><table class="events"><tr><th>delivery id</th><th>outcome</th><th>DTO</th>
<th></th></tr>{rows}</table>
<h3>Answer</h3><pre class="answer">{html.escape(json.dumps(answer, indent=2))}</pre>
</details>"""


def _events_of(answer: Any, dtos: dict[str, Any]) -> list[dict[str, Any]]:
    """The answer's events; for an error answer (422: every event unmapped, 400: the body
    unreadable), one row per event the preview found, with its field errors."""
    if not isinstance(answer, dict):
        return []
    if isinstance(answer.get("events"), list):
        return [event for event in answer["events"] if isinstance(event, dict)]
    error = answer.get("error")
    if not isinstance(error, dict) or error.get("code") != "MAPPING_FAILED":
        return []
    details = [d for d in error.get("details") or [] if isinstance(d, dict)]
    return [
        {"deliveryId": delivery_id, "status": "unmapped",
         "reason": "; ".join(f"{d.get('field')}: {d.get('message')}" for d in details
                             if d.get("event") == index)}
        for index, delivery_id in enumerate(dtos)
    ]  # fmt: skip


def _event(
    source: str,
    event: dict[str, Any],
    dtos: dict[str, Any],
    finished: dict[tuple[str, str], float],
    replayed: dict[tuple[str, str], float],
) -> str:
    delivery_id = str(event.get("deliveryId", ""))
    state = str(event.get("status", ""))
    detail = event.get("sequenceId") or event.get("reason") or ""
    if state == "deferred":  # the answer said so; the worker may have finished it since
        done_at = finished.get((source, delivery_id))
        when = time.strftime("%H:%M:%S", time.localtime(done_at)) if done_at else ""
        detail = f"{detail}: " + (f"finished by the worker at {when}" if when else "waiting")
    replay = ""
    replayed_at = replayed.get((source, delivery_id))
    if replayed_at is not None:
        replay = time.strftime("replayed at %H:%M:%S", time.localtime(replayed_at))
    elif state in ("dead-lettered", "unmapped"):
        replay = (
            f'<button class="replay" data-source="{html.escape(source)}" '
            f'data-delivery="{html.escape(delivery_id)}">Replay</button>'
        )
    dto = html.escape(json.dumps(dtos.get(delivery_id), indent=1))
    return (
        f"<tr><td>{html.escape(delivery_id)}</td><td>{html.escape(state)} "
        f"{html.escape(str(detail))}</td><td><pre>{dto}</pre></td><td>{replay}</td></tr>"
    )


def _request(exchange: Exchange, hidden: frozenset[str] = frozenset()) -> str:
    """The request as the page shows it: credentials in headers, in the query (those of the
    names below, and the sources' own query-key parameters, whatever they are called) and a
    Salesforce Outbound Message's SessionId (a live API session) redacted."""
    lines = [f"{exchange.method} {redact_url(exchange.path, hidden)}"]
    lines += [f"{name}: {REDACTED if _secret(name, value) else value}"
              for name, value in exchange.headers]  # fmt: skip
    body = SESSION_ID.sub(rf"\1{REDACTED}\2", exchange.body.decode("utf-8", errors="replace"))
    body = body[:SHOWN_BODY]
    more = (
        f"\n… {len(exchange.body) - SHOWN_BODY} more bytes"
        if len(exchange.body) > SHOWN_BODY
        else ""
    )
    return "\n".join(lines) + "\n\n" + body + more


def _secret(name: str, value: str) -> bool:
    return SECRET_HEADER.search(name) is not None or SECRET_VALUE.search(value) is not None


def redact_url(path: str, hidden: frozenset[str] = frozenset()) -> str:
    parts = urlsplit(path)
    if not parts.query:
        return path
    query = [(name, REDACTED if SECRET_PARAMETER.search(name) or name in hidden else value)
             for name, value in parse_qsl(parts.query, keep_blank_values=True)]  # fmt: skip
    return f"{parts.path}?{urlencode(query)}"


def _answer(result: dict[str, Any]) -> Any:
    raw = result.get("body") or ""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>skipcall-bridge: deliveries</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 2em; }
details.delivery { border: 1px solid #ccc; border-radius: 4px; margin: .4em 0; padding: .3em .6em; }
summary { cursor: pointer; }
.status { font-weight: bold; padding: 0 .3em; border-radius: 3px; color: white; }
.s2 { background: #2a7; } .s4 { background: #c33; } .s5 { background: #a40; }
pre { background: #f6f6f6; padding: .5em; overflow: auto; max-height: 20em; }
table.events td { vertical-align: top; padding: .2em .5em; }
</style></head>
<body><h1>Deliveries to the local receiver</h1>
<p>The last 200, newest first. Secrets and signatures are redacted.
<a href="/_inspect">Refresh</a></p>
{{records}}
<script>
async function post(url) {
  const answer = await fetch(url, {method: "POST", headers: {"X-Inspector-Token": "{{token}}"}});
  document.body.dataset.last = await answer.text();
  location.reload();
}
for (const button of document.querySelectorAll("button.resend")) {
  button.onclick = () => post("/_inspect/resend/" + button.dataset.number);
}
async function replay(button, anyway) {
  const url = "/_inspect/replay/" + encodeURIComponent(button.dataset.source) + "/"
    + encodeURIComponent(button.dataset.delivery) + (anyway ? "?anyway=1" : "");
  const answer = await fetch(url, {method: "POST", headers: {"X-Inspector-Token": "{{token}}"}});
  if (answer.status !== 409) {
    document.body.dataset.last = await answer.text();
    location.reload();
    return;
  }
  const held = await answer.json();  // not replayed unasked: why, and whether it may be
  document.body.dataset.last = held.why;
  if (!held.anyway) {
    alert(held.why);
  } else if (confirm(held.why + "\\n\\nReplay it anyway?")) {
    await replay(button, true);
  }
}
for (const button of document.querySelectorAll("button.replay")) {
  button.onclick = () => replay(button, false);
}
</script></body></html>
"""
