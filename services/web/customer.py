"""The customer's page, reached by a signed, expiring link for one case (no account): where the
case stands, the date the bank must answer by, the offer with its schedule, and the customer's
own commands — contact preference, accept / reject / counter, the survey — with the customer as
actor. An expired link can ask for a new one; the handler sees the request."""

from __future__ import annotations

import hmac
import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from events.base import Actor
from events.codec import DecodeError
from services.web import access, casefile, forms, i18n, metrics
from services.web.context import Context
from services.web.tokens import TokenError

log = logging.getLogger("accord.customer")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _body(action: str, form: dict[str, str], case: casefile.CaseFile) -> dict[str, Any]:
    """The command body from the customer's simple forms (the plan and survey ids come from the case)."""
    plan_id = (case.plan or {}).get("plan_id")
    if action == "SetContactPreference":
        days = [d for d in DAYS if form.get(f"day_{d}")]
        window = {
            "days": days or list(DAYS[:5]),
            "start": form.get("start") or "09:00",
            "end": form.get("end") or "18:00",
        }
        if form.get("timezone"):
            window["timezone"] = form["timezone"]
        return {"type": action, "preference": {"method": form.get("method", ""), "window": window}}
    if action in ("AcceptPlan", "RejectPlan"):
        body = {"type": action, "plan_id": plan_id}
        if action == "RejectPlan" and form.get("reason"):
            body["reason"] = form["reason"]
        return body
    if action == "CounterPlan":
        counter: dict[str, Any] = {"summary": form.get("summary", "")}
        if form.get("amount"):
            counter["amount"] = {"amount": form["amount"]}
        if form.get("term_months"):
            counter["term_months"] = (
                int(form["term_months"]) if form["term_months"].isdigit() else form["term_months"]
            )
        return {"type": action, "plan_id": plan_id, "counter": counter}
    if action == "RecordSatisfaction":
        body = {"type": action, "survey_id": case.survey_id, "csat": _int(form.get("csat"))}
        if form.get("nps"):
            body["nps"] = _int(form.get("nps"))
        if form.get("comment"):
            body["comment"] = form["comment"]
        return body
    return forms.body_from_form(forms.BY_NAME[action], form)


def _int(text: str | None) -> Any:
    return int(text) if text and text.isdigit() else text


def router(ctx: Context) -> APIRouter:
    r = APIRouter()

    def lang_of(request: Request, case: casefile.CaseFile | None) -> str:
        asked = request.query_params.get("lang")
        if asked in i18n.LANGUAGES:
            return asked
        return i18n.pick((case.complaint.get("language") if case else None) or "zh-CN")

    def refused(request: Request, token: str, reason: str) -> HTMLResponse:
        lang = i18n.pick(request.query_params.get("lang") or "zh-CN")
        log.warning("customer link refused: %s", reason)  # never the token itself
        metrics.REFUSED.labels("customer", reason).inc()
        renewable = reason == "expired" and ctx.links.case_of_expired(token) is not None
        html = ctx.render(
            "customer_refused.html",
            lang=lang,
            reason=reason,
            token=token,
            renewable=renewable,
            csrf=ctx.links.csrf_for(token) if renewable else "",
        )
        return HTMLResponse(html, status_code=403)

    def open_case(token: str, lang: str = "en") -> tuple[casefile.CaseFile | None, str | None]:
        try:
            case_id, _ = ctx.links.check(token)
        except TokenError as exc:
            return None, exc.reason
        with ctx.views() as store:
            return casefile.load(store, case_id, lang), None

    @r.get("/c/{token}", response_class=HTMLResponse)
    def customer_page(request: Request, token: str, m: str = "", why: str = "") -> Response:
        case, error = open_case(token)
        if error:
            return refused(request, token, error)
        if case is None:  # a valid link to a case the views have not caught up with yet
            lang = lang_of(request, None)
            html = ctx.render("customer_refused.html", lang=lang, reason="pending", token="", renewable=False)
            return HTMLResponse(html, status_code=200)
        lang = lang_of(request, case)
        with ctx.views() as store:
            case = casefile.load(store, case.case_id, lang)
        assert case is not None
        return HTMLResponse(
            ctx.render(
                "customer.html",
                lang=lang,
                case=case,
                token=token,
                csrf=ctx.links.csrf_for(token),
                status_words=i18n.status_words(lang, case.view["status"]),
                days=DAYS,
                message=m,
                why=why,
            )
        )

    @r.get("/c/{token}/version")
    def version(token: str) -> Response:
        case, error = open_case(token)
        if error or case is None:
            return JSONResponse({"error": error or "unknown"}, status_code=403)
        return JSONResponse({"version": case.version})

    @r.post("/c/{token}/renew", response_class=HTMLResponse)
    async def renew(request: Request, token: str) -> Response:
        case_id = ctx.links.case_of_expired(token)
        lang = i18n.pick(request.query_params.get("lang") or "zh-CN")
        if case_id is None:
            return refused(request, token, "altered")
        form = await request.form()
        if not hmac.compare_digest(str(form.get("csrf", "")).encode(), ctx.links.csrf_for(token).encode()):
            metrics.REFUSED.labels("customer", "csrf").inc()
            return HTMLResponse(
                ctx.render("customer_refused.html", lang=lang, reason="csrf", token="", renewable=False), 403
            )
        ctx.accounts.request_link(case_id)
        log.info("a new customer link was requested for %s", case_id)
        return HTMLResponse(
            ctx.render("customer_refused.html", lang=lang, reason="renewed", token="", renewable=False)
        )

    @r.post("/c/{token}/act/{action}")
    async def act(request: Request, token: str, action: str) -> Response:
        case, error = open_case(token)
        if error or case is None:
            return refused(request, token, error or "unknown")
        form = {k: str(v) for k, v in (await request.form()).items()}
        lang = lang_of(request, case)
        if not hmac.compare_digest(form.pop("csrf", "").encode(), ctx.links.csrf_for(token).encode()):
            log.warning("refused: a customer form without a valid CSRF token on %s", case.case_id)
            metrics.REFUSED.labels("customer", "csrf").inc()
            return HTMLResponse(
                ctx.render("customer_refused.html", lang=lang, reason="csrf", token="", renewable=False), 403
            )
        back = f"/c/{token}?lang={lang}"
        if action not in access.CUSTOMER_ACTIONS or not case.view.get("customer_id"):
            return HTMLResponse(
                ctx.render("customer_refused.html", lang=lang, reason="csrf", token="", renewable=False), 403
            )
        actor = Actor(kind="customer", id=case.view["customer_id"])
        try:
            command = forms.envelope(case.case_id, _body(action, form, case), actor)
        except DecodeError as exc:
            return RedirectResponse(
                f"{back}&{urlencode({'m': 'invalid', 'why': exc.reason})}", status_code=303
            )
        try:
            ctx.send(command, "customer")
        except Exception as exc:  # the broker did not acknowledge: say so, never pretend it was sent
            log.error("the customer's %s for %s not sent: %s", action, case.case_id, type(exc).__name__)
            return RedirectResponse(f"{back}&{urlencode({'m': 'invalid', 'why': 'please try again'})}", 303)
        log.info("the customer sent %s for %s (command %s)", action, case.case_id, command.command_id)
        return RedirectResponse(f"{back}&m=thanks", status_code=303)

    return r
