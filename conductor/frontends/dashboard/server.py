"""``conductor dashboard``: the release pages served over HTTP by Conductor itself (aiohttp).

Who may see it, who may act, and how:

- **Loopback by default, a token in the URL** (like a notebook server): every request without it
  gets 401 (:mod:`.access`: the token, the Host check, CSRF, the security headers).
- **Read-only unless started with ``--allow-actions``.** Without it there is no form, and every
  POST gets 405. With it, an action is a POST that carries a CSRF token bound to the browser's
  session and an ``Origin`` equal to the dashboard's own, after a confirmation page that says
  exactly what will happen (:mod:`.actions`); it runs through the session, journaled as
  ``person:dashboard``.
- **Read from the journal, never written, never locked.** Pages fold the journal with
  :class:`~conductor.release_history.ReleaseHistory` (incremental, cached per release) through a
  read-only connection, so the dashboard follows a release that another process drives.
- **Live.** A page subscribes to ``/stream/…`` (server-sent events); the server polls the journal
  every ``poll`` seconds and pushes the re-rendered region when something was appended.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web
from markupsafe import Markup

from conductor.errors import ConductorError
from conductor.frontends.dashboard import access, actions, pages, png, svg
from conductor.frontends.dashboard.charts import service_charts
from conductor.journal.store import Journal
from conductor.output import safe_text
from conductor.readonly_journal import ReadOnlyJournal
from conductor.release_history import ReleaseHistory, releases

if TYPE_CHECKING:
    from conductor.session import Conductor

STATIC = {"live.js": "text/javascript", "dashboard.css": "text/css"}
MAX_RELEASE_ID = 2**63 - 1  # SQLite's largest INTEGER
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Activity:
    """An action started from this dashboard, shown on its release's page."""

    release: int
    description: str
    started: str
    exit_code: int | None = None
    error: str = ""
    made: int | None = None  # the release it started (an undo is a release of its own)

    def note(self) -> str:
        if self.error:
            return f"from the dashboard at {self.started}: {self.description}: failed: {self.error}"
        if self.exit_code is None:
            return f"from the dashboard at {self.started}: {self.description}: running…"
        return f"from the dashboard at {self.started}: {self.description}: done (exit {self.exit_code})"

    def shown(self) -> pages.Note:
        if self.made is None or self.made == self.release:
            return pages.Note(self.note())
        return pages.Note(self.note() + ":", f"/release/{self.made}", f"release #{self.made}")


class Dashboard:
    """The web application. ``open_conductor`` builds a fresh session for each action (the one
    the CLI hands in reads the config; actions must see the journal as it is when they run).

        dashboard = Dashboard(state_dir, open_conductor, allow_actions=False)
        web.run_app(dashboard.app(), host="127.0.0.1", port=0)
    """

    def __init__(self, state_dir: Path, open_conductor: Callable[[], Conductor], *, allow_actions: bool = False,
                 token: str | None = None, poll: float = 0.5) -> None:
        self.journal_path = state_dir / "journal.db"
        self.open_conductor = open_conductor
        self.allow_actions = allow_actions
        self.token = token or secrets.token_urlsafe(24)
        self.poll = poll
        self.port = 0
        self.bound_host = "127.0.0.1"
        self._secret = secrets.token_bytes(32)
        self._journal: Journal | None = None
        self._histories: dict[int, tuple[ReleaseHistory, threading.Lock]] = {}
        self._guard = threading.Lock()
        self._busy = threading.Lock()
        self.activity: list[Activity] = []
        self.mode = "actions allowed (each confirmed first)" if allow_actions else "read-only"

    # -- the journal, read-only and cached ------------------------------------------------------

    def journal(self) -> Journal | None:
        with self._guard:
            if self._journal is None and self.journal_path.exists():
                self._journal = ReadOnlyJournal(self.journal_path)
            return self._journal

    def prewarm(self) -> None:
        """Read the newest release now, so the first visit to it costs what a later one does."""
        journal = self.journal()
        if journal is not None:
            newest = max((oid for oid, *_ in journal.orchestrations()), default=None)
            if newest is not None:
                self.history(newest)

    def history(self, release: int) -> ReleaseHistory | None:
        """The release's series, advanced to the journal's end (None if it has no such release)."""
        journal = self.journal()
        if journal is None or not 0 < release <= MAX_RELEASE_ID:
            return None  # an id SQLite cannot hold is no release (not a 500)
        with self._guard:
            if release not in self._histories:
                self._histories[release] = (ReleaseHistory(journal, release), threading.Lock())
            history, lock = self._histories[release]
        with lock:
            history.advance()
            if not history.found:  # not cached: a client asking for ids that do not exist costs no memory
                with self._guard:
                    self._histories.pop(release, None)
                return None
        return history

    # -- the application ------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guarded])
        app.add_routes([
            web.get("/", self.releases_page),
            web.get("/static/{name}", self.static),
            web.get("/favicon.ico", self.favicon),
            web.get("/stream/releases", self.releases_stream),
            web.get(r"/release/{id:\d+}", self.release_page),
            web.get(r"/release/{id:\d+}/journal", self.journal_page),
            web.get(r"/release/{id:\d+}/chart/{slug:[a-z0-9-]+}.{format:svg|png}", self.chart),
            web.get(r"/stream/release/{id:\d+}", self.release_stream),
            web.get(r"/release/{id:\d+}/confirm/{action}", self.confirm),
            web.post(r"/release/{id:\d+}/{action}", self.act),
        ])
        return app

    def url(self, path: str = "/") -> str:
        host = f"[{self.bound_host}]" if ":" in self.bound_host else self.bound_host
        return f"http://{host}:{self.port}{self.raw_link(path)}"

    def link(self, path: str) -> Markup:
        return Markup(escape(self.raw_link(path), quote=True))

    def raw_link(self, path: str) -> str:
        joiner = "&" if "?" in path else "?"
        return f"{path}{joiner}token={quote(self.token)}"

    @web.middleware
    async def _guarded(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not access.host_allowed(request.host, self.bound_host):
            return access.secured(web.Response(status=421, text="421: wrong Host for this dashboard\n"))
        if not access.token_ok(request, self.token):
            return access.secured(web.Response(
                status=401, text="401: this dashboard needs the token from the URL `conductor dashboard` printed\n"))
        if request.method not in ("GET", "HEAD") and not self.allow_actions:
            return access.secured(web.Response(
                status=405, headers={"Allow": "GET"},
                text="405: this dashboard is read-only; start it with --allow-actions to act from the page\n"))
        response = await handler(request)
        if not response.prepared:
            access.secured(response)
            access.remember(request, response, self.token)
        return response

    def _csrf(self, session: str) -> str:
        return access.csrf_token(self._secret, session)

    def _html(self, text: str, status: int = 200) -> web.Response:
        return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")

    def _message(self, title: str, message: str, status: int, back: str | None = None) -> web.Response:
        return self._html(pages.message_page(self.link, mode=self.mode, title=title, message=safe_text(message),
                                             back=back), status)

    # -- pages ----------------------------------------------------------------------------------

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        return web.Response(text=pages.asset(name), content_type=STATIC[name], charset="utf-8")

    async def favicon(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    def _release_rows(self) -> tuple[list[Any], str]:
        journal = self.journal()
        if journal is None:
            return [], f"{self.journal_path} does not exist yet"
        return releases(journal), ""

    async def releases_page(self, request: web.Request) -> web.StreamResponse:
        rows, missing = await asyncio.to_thread(self._release_rows)
        return self._html(pages.releases_page(rows, self.link, self.mode, self.link("/stream/releases"),
                                              missing))

    def _release_html(self, release: int, region: bool, since: str = "") -> tuple[str, int, str] | None:
        """The page (or its live region) with the journal's position and a stamp of what it shows;
        None if there is no such release, or (a region) if nothing changed since ``since``."""
        history = self.history(release)
        if history is None:
            return None
        _, lock = self._histories[release]
        with lock:
            notes = [a.shown() for a in self.activity if a.release == release]
            stamp = f"{history.last_seq}:{'|'.join(f'{n.text}{n.href}' for n in notes)}"
            if region and stamp == since:
                return None  # nothing new: no render, nothing sent
            buttons = self._actions(history)
            if region:
                return pages.release_region(history, self.link, buttons, notes), history.last_seq, stamp
            stream = self.link(f"/stream/release/{release}?since={history.last_seq}")
            return pages.release_page(history, self.link, mode=self.mode, stream=stream, actions=buttons,
                                      notes=notes), history.last_seq, stamp

    def _actions(self, history: ReleaseHistory) -> list[pages.Action]:
        """The buttons this release offers now (each leads to a confirmation, planned afresh)."""
        if not self.allow_actions:
            return []
        found: list[tuple[str, str]] = []
        if history.in_flight:
            canary = history.strategy == "canary"
            if canary and not history.paused and any(s.awaiting is not None for s in history.services.values()):
                found.append(("approve", "Approve the next step…"))
            if canary and any(s.percent < 100 for s in history.services.values()):
                found.append(("promote", "Promote to 100%…"))
            found.append(("resume", "Resume…") if history.paused else ("pause", "Pause…"))
            found.append(("rollback", "Roll back…"))
        elif history.outcome == "complete":
            journal = self.journal()
            newest = max((oid for oid, *_ in journal.orchestrations()), default=None) if journal else None
            if newest == history.id:
                found.append(("undo", "Undo this release…"))
        return [pages.Action(name, label, f"/release/{history.id}/confirm/{name}") for name, label in found]

    async def release_page(self, request: web.Request) -> web.StreamResponse:
        release = int(request.match_info["id"])
        rendered = await asyncio.to_thread(self._release_html, release, False)
        if rendered is None:
            return self._message("Not found", f"The journal has no release #{release}.", 404, back="/")
        return self._html(rendered[0])

    async def journal_page(self, request: web.Request) -> web.StreamResponse:
        release = int(request.match_info["id"])
        offset = request.query.get("offset", "0")
        if not offset.isdigit():
            return self._message("Bad request", "offset must be a whole number", 400)
        history = await asyncio.to_thread(self.history, release)
        if history is None:
            return self._message("Not found", f"The journal has no release #{release}.", 404, back="/")
        return self._html(pages.journal_page(history, self.link, self.mode, int(offset)))

    async def chart(self, request: web.Request) -> web.StreamResponse:
        """One chart on its own, SVG or PNG (``api-errors.svg``, ``api-latency.png``, ``api-traffic.svg``)."""
        release, slug = int(request.match_info["id"]), request.match_info["slug"]
        history = await asyncio.to_thread(self.history, release)
        charts = {c.slug: c for s in (history.services.values() if history else ()) for c in
                  service_charts(history, s)} if history else {}
        if slug not in charts:
            raise web.HTTPNotFound()
        if request.match_info["format"] == "png":
            return web.Response(body=await asyncio.to_thread(png.render, charts[slug]), content_type="image/png")
        return web.Response(text=svg.render(charts[slug]), content_type="image/svg+xml", charset="utf-8")

    # -- live updates ---------------------------------------------------------------------------

    async def release_stream(self, request: web.Request) -> web.StreamResponse:
        release = int(request.match_info["id"])
        since = request.query.get("since", "")
        return await self._stream(request, lambda stamp: self._release_html(release, True, stamp),
                                  f"{since}:" if since.isdigit() else "")

    async def releases_stream(self, request: web.Request) -> web.StreamResponse:
        def region(since: str) -> tuple[str, int, str] | None:
            journal = self.journal()
            seq = journal.last_seq() if journal else 0
            if str(seq) == since:
                return None
            rows, missing = self._release_rows()
            return pages.releases_region(rows, self.link, missing), seq, str(seq)
        return await self._stream(request, region, "")

    async def _stream(self, request: web.Request, render: Callable[[str], tuple[str, int, str] | None],
                      stamp: str) -> web.StreamResponse:
        """Push ``render``'s region whenever it has something new (it returns None otherwise)."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
        access.secured(response)
        await response.prepare(request)
        quiet = 0.0
        try:
            while True:
                rendered = await asyncio.to_thread(render, stamp)
                if rendered is not None:
                    html, seq, stamp = rendered
                    await response.write(f"event: update\ndata: {json.dumps({'seq': seq, 'html': html})}\n\n"
                                         .encode())
                    quiet = 0.0
                elif quiet >= 15.0:
                    await response.write(b": still here\n\n")
                    quiet = 0.0
                await asyncio.sleep(self.poll)
                quiet += self.poll
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    # -- actions --------------------------------------------------------------------------------

    def _plan(self, release: int, name: str) -> actions.Plan | str:
        conductor = self.open_conductor()
        try:
            return actions.plan_action(conductor, release, name)
        except ConductorError as exc:
            return str(exc)
        finally:
            conductor.close()

    async def confirm(self, request: web.Request) -> web.StreamResponse:
        release, name = int(request.match_info["id"]), request.match_info["action"]
        if not self.allow_actions:
            return self._message("Read-only", "This dashboard is read-only: start it with --allow-actions.", 403,
                                 back=f"/release/{release}")
        missing = await self._no_such(release, name)
        if missing is not None:
            return missing
        session = request.cookies.get(access.SESSION_COOKIE)
        if not session:  # the first page sets it; a confirmation needs one to bind the form to
            raise web.HTTPSeeOther(self.raw_link(f"/release/{release}"))
        plan = await asyncio.to_thread(self._plan, release, name)
        if isinstance(plan, str):
            return self._message("Nothing to do", plan, 409, back=f"/release/{release}")
        return self._html(pages.confirm_page(
            self.link, mode=self.mode, release=release, name=name, description=plan.description,
            command=plan.command, actor=actions.ACTOR, csrf=self._csrf(session), fingerprint=plan.fingerprint,
            action_href=f"/release/{release}/{name}"))

    async def _no_such(self, release: int, name: str) -> web.Response | None:
        """404 for an action the dashboard does not have or a release the journal does not have
        (a 409 "nothing to do" is for a real release that cannot take that action now)."""
        if name not in actions.ACTIONS:
            return self._message("Not found", f"There is no action {name!r}; the actions are "
                                 f"{', '.join(actions.ACTIONS)}.", 404, back=f"/release/{release}")
        if await asyncio.to_thread(self.history, release) is None:
            return self._message("Not found", f"The journal has no release #{release}.", 404, back="/")
        return None

    async def act(self, request: web.Request) -> web.StreamResponse:
        release, name = int(request.match_info["id"]), request.match_info["action"]
        missing = await self._no_such(release, name)
        if missing is not None:
            return missing
        form = await request.post()
        session = request.cookies.get(access.SESSION_COOKIE, "")
        supplied = form.get("csrf")
        if not session or not isinstance(supplied, str) or not hmac.compare_digest(
                supplied.encode(), self._csrf(session).encode()):
            return self._message("Refused", "403: the form's CSRF token does not match this browser's session; "
                                 "nothing was done. Open the confirmation again.", 403, back=f"/release/{release}")
        if request.headers.get("Origin") != f"http://{request.host}":
            return self._message("Refused", "403: the request did not come from this dashboard's own page "
                                 "(Origin); nothing was done.", 403, back=f"/release/{release}")
        plan = await asyncio.to_thread(self._plan, release, name)
        if isinstance(plan, str):
            return self._message("Nothing done", plan, 409, back=f"/release/{release}")
        if form.get("expect") != plan.fingerprint:
            return self._message("Nothing done", f"The release moved since you confirmed: now this would "
                                 f"{plan.description}. Nothing was done; confirm again if you want that.", 409,
                                 back=f"/release/{release}")
        if not self._busy.acquire(blocking=False):
            return self._message("Busy", "Another action from this dashboard is still running; nothing was done.",
                                 409, back=f"/release/{release}")
        activity = Activity(release, plan.description, datetime.now(UTC).strftime("%H:%M:%S UTC"))
        self.activity.append(activity)
        threading.Thread(target=self._run, args=(plan, activity), name="dashboard-action", daemon=True).start()
        raise web.HTTPSeeOther(self.raw_link(f"/release/{release}"))

    def _run(self, plan: actions.Plan, activity: Activity) -> None:
        """Run the action; its outcome goes to the page and, for whoever runs the dashboard, stderr."""
        print(activity.note(), file=sys.stderr, flush=True)
        try:
            conductor = self.open_conductor()
            try:
                result = actions.run_action(conductor, plan)
                made = result.data.get("orchestration")
                activity.made = made if isinstance(made, int) else None
                activity.exit_code = result.exit_code
            finally:
                conductor.close()
        except Exception as exc:  # shown on the page; the journal says what happened before it
            activity.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._busy.release()
            print(activity.note(), file=sys.stderr, flush=True)

    def idle(self) -> bool:
        """No action from this dashboard is running (tests wait for it)."""
        if self._busy.acquire(blocking=False):
            self._busy.release()
            return True
        return False


