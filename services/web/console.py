"""The handler console: sign-in, the queue, the case page and its actions. Reads the case
views; every action is a command on `negotiation.commands` with the signed-in staff member as
its actor, authorised here first (services.web.access) and CSRF-checked."""

from __future__ import annotations

import hmac
import logging
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from events.base import Actor
from events.codec import DecodeError
from events.commands import (
    ConfirmRedress,
    DeclareConflict,
    EscalateCase,
    ExtendDeadline,
    PauseClock,
    RecordContactAttempt,
    RecordFacts,
    RecordPayment,
    ReopenCase,
)
from services.web import access, casefile, forms, i18n, metrics
from services.web.accounts import Session
from services.web.context import Context

log = logging.getLogger("accord.console")
COOKIE = "accord_session"
LOGIN_COOKIE = "accord_signin"
CLOSED = "closed"
# The forms of the case page, each drawn from its command model (fields filled in here are omitted).
FORMS = {
    "RecordContactAttempt": forms.fields_of(RecordContactAttempt),
    "RecordFacts": forms.fields_of(RecordFacts),
    "DeclareConflict": forms.fields_of(DeclareConflict, omit=("staff_id",)),
    "PauseClock": forms.fields_of(PauseClock),
    "ReopenCase": forms.fields_of(ReopenCase),
    "EscalateCase": forms.fields_of(EscalateCase),
    "ExtendDeadline": forms.fields_of(ExtendDeadline),
    "RecordPayment": forms.fields_of(RecordPayment),
    "ConfirmRedress": forms.fields_of(ConfirmRedress),
}


def router(ctx: Context) -> APIRouter:
    r = APIRouter()

    def session(request: Request) -> Session | None:
        return ctx.accounts.session(request.cookies.get(COOKIE))

    def to_login() -> RedirectResponse:
        return RedirectResponse("/console/login", status_code=303)

    def page(name: str, lang: str, status: int = 200, **values: Any) -> HTMLResponse:
        return HTMLResponse(ctx.render(name, lang=i18n.pick(lang), **values), status_code=status)

    async def checked_form(request: Request, s: Session) -> dict[str, str] | None:
        form = {k: str(v) for k, v in (await request.form()).items()}
        given = form.pop("csrf", "")
        if not hmac.compare_digest(given.encode(), s.csrf.encode()):
            metrics.REFUSED.labels("console", "csrf").inc()
            log.warning(
                "refused: a form without a valid CSRF token from %s on %s", s.staff.staff_id, request.url.path
            )
            return None
        return form

    @r.get("/console/login", response_class=HTMLResponse)
    def login_page(request: Request, lang: str = "en", error: str = "") -> HTMLResponse:
        return login_form(lang, error)

    def login_form(lang: str, error: str = "", status: int = 200) -> HTMLResponse:
        # No session yet: the sign-in form is protected by a double-submitted token instead.
        token = secrets.token_urlsafe(24)
        out = page("login.html", lang, status=status, error=error, login_csrf=token)
        out.set_cookie(LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict")
        return out

    @r.post("/console/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        given, expected = str(form.get("csrf", "")), request.cookies.get(LOGIN_COOKIE, "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            metrics.REFUSED.labels("console", "csrf").inc()
            log.warning("refused: a sign-in form without a valid CSRF token")
            return login_form(str(form.get("lang") or "en"), "csrf", status=403)
        staff_id, password = str(form.get("staff_id", "")), str(form.get("password", ""))
        staff, why = ctx.accounts.authenticate(staff_id, password)
        lang = str(form.get("lang") or "en")
        if staff is None:
            # never the password; the id only as typed into the form, truncated
            log.warning("sign-in refused for %r: %s", staff_id[:64], why)
            metrics.SIGNINS.labels(why).inc()
            error = "signin_locked" if why in ("locked", "locked-now") else "signin_failed"
            return login_form(lang, error, status=401)
        log.info("signed in: %s (%s, team %s)", staff.staff_id, staff.role, staff.team)
        metrics.SIGNINS.labels("ok").inc()
        token = ctx.accounts.open_session(staff, ctx.settings.session_minutes)
        out = RedirectResponse("/console", status_code=303)
        out.set_cookie(
            COOKIE,
            token,
            max_age=ctx.settings.session_minutes * 60,
            httponly=True,
            samesite="strict",
            secure=ctx.settings.public_url.startswith("https:"),
        )
        return out

    @r.post("/console/logout")
    async def logout(request: Request) -> Response:
        s = session(request)
        if s is not None and await checked_form(request, s) is not None:
            ctx.accounts.close_session(request.cookies.get(COOKIE, ""))
            log.info("signed out: %s", s.staff.staff_id)
        out = to_login()
        out.delete_cookie(COOKIE)
        return out

    @r.post("/console/language")
    async def language(request: Request) -> Response:
        s = session(request)
        if s is None:
            return to_login()
        form = await checked_form(request, s)
        if form is not None:
            ctx.accounts.set_language(s.staff.staff_id, form.get("lang", "en"))
        back = form.get("back", "") if form else ""
        # only back into the console: a form field must not redirect anywhere else
        return RedirectResponse(back if back.startswith("/console") else "/console", status_code=303)

    @r.get("/console", response_class=HTMLResponse)
    def queue(
        request: Request,
        scope: str = "mine",
        status: str = "",
        channel: str = "",
        category: str = "",
        team: str = "",
        handler: str = "",
    ) -> Response:
        s = session(request)
        if s is None:
            return to_login()
        now = datetime.now(UTC)
        with ctx.views() as store:
            found = store.query(
                status=status or None, channel=channel or None, category=category or None, limit=100_000
            )
        rows: list[dict[str, Any]] = []
        for v in found:
            if v["status"] == CLOSED:
                continue
            if scope == "mine" and not access.on_case(s.staff, v) and s.staff.role != "auditor":
                continue
            if (team and v.get("team") != team) or (handler and v.get("handler") != handler):
                continue
            left = casefile.time_left(v, now)
            rows.append(
                {
                    "view": v,
                    "left": left,
                    "left_text": casefile.human_left(left),
                    "mark": casefile.clock_mark(v, left),
                }
            )
        rows.sort(
            key=lambda row: (
                row["left"] is None,
                row["left"] if row["left"] is not None else 0,
                row["view"]["case_id"],
            )
        )
        filters = {
            "scope": scope,
            "status": status,
            "channel": channel,
            "category": category,
            "team": team,
            "handler": handler,
        }
        return page("queue.html", s.staff.language, s=s, rows=rows, filters=filters, now=now)

    @r.get("/console/cases/{case_id}", response_class=HTMLResponse)
    def case_page(request: Request, case_id: str, m: str = "", why: str = "", link: str = "") -> Response:
        s = session(request)
        if s is None:
            return to_login()
        lang = s.staff.language
        with ctx.views() as store:
            case = casefile.load(store, case_id, lang)
        if case is None:
            return page("message.html", lang, status=404, s=s, message=f"{i18n.t(lang, 'case')} {case_id}: —")
        sent = ctx.accounts.sent(case_id)
        for c in sent:
            c["state"] = (
                "refused"
                if c["command_id"] in case.refused
                else ("done" if c["command_id"] in case.answered else "pending")
            )
            c["reason"] = case.refused.get(c["command_id"], "")
        return page(
            "case.html",
            lang,
            s=s,
            case=case,
            sent=sent,
            forms=FORMS,
            may=lambda action: access.may(s.staff, action, case.view),
            on_case=access.on_case(s.staff, case.view),
            left=casefile.human_left(casefile.time_left(case.view)),
            message=m,
            why=why,
            link=link,
            link_requested=ctx.accounts.link_requested(case_id),
        )

    @r.get("/console/cases/{case_id}/version")
    def version(request: Request, case_id: str) -> Response:
        s = session(request)
        if s is None:
            return JSONResponse({"error": "signed out"}, status_code=401)
        with ctx.views() as store:
            view = store.get(case_id)
        return JSONResponse(
            {"version": f"{view.get('last_key', '')}|{len(view.get('events', []))}" if view else ""}
        )

    @r.post("/console/cases/{case_id}/act/{action}")
    async def act(request: Request, case_id: str, action: str) -> Response:
        s = session(request)
        if s is None:
            return to_login()
        form = await checked_form(request, s)
        back = f"/console/cases/{quote(case_id)}"
        if form is None:
            return page(
                "message.html", s.staff.language, status=403, s=s, message=i18n.t(s.staff.language, "csrf")
            )
        with ctx.views() as store:
            view = store.get(case_id)
        if view is None or not access.may(s.staff, action, view):
            metrics.REFUSED.labels("console", "forbidden").inc()
            log.warning("refused: %s (%s) may not %s on %s", s.staff.staff_id, s.staff.role, action, case_id)
            return page(
                "message.html",
                s.staff.language,
                status=403,
                s=s,
                message=i18n.t(s.staff.language, "not_allowed"),
            )
        if action == "IssueLink":
            log.info("%s issued a customer link for %s", s.staff.staff_id, case_id)
            return RedirectResponse(
                f"{back}?{urlencode({'link': ctx.customer_link(case_id)})}", status_code=303
            )
        model = forms.BY_NAME.get(action)
        if model is None:
            return page("message.html", s.staff.language, status=404, s=s, message=action)
        fixed: dict[str, Any] = {}
        if action == "DeclareConflict":
            fixed["staff_id"] = s.staff.staff_id  # one declares one's own stake
        try:
            command = forms.envelope(
                case_id, forms.body_from_form(model, form, fixed), Actor(kind="staff", id=s.staff.staff_id)
            )
        except DecodeError as exc:
            return RedirectResponse(
                f"{back}?{urlencode({'m': 'invalid', 'why': exc.reason})}", status_code=303
            )
        try:
            ctx.send(command)
        except Exception as exc:  # the broker did not acknowledge: say so, never pretend it was sent
            log.error("%s: %s for %s not sent: %s", s.staff.staff_id, action, case_id, type(exc).__name__)
            return RedirectResponse(
                f"{back}?{urlencode({'m': 'invalid', 'why': 'the broker did not answer'})}", 303
            )
        log.info("%s sent %s for %s (command %s)", s.staff.staff_id, action, case_id, command.command_id)
        return RedirectResponse(f"{back}?m=sent", status_code=303)

    return r
