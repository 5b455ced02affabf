"""Contacts: search and sort by overdue, a page per person, edit, log, snooze, import, export."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as WerkzeugResponse

from scheduler.model import Contact, InteractionKind, Meal, Relationship
from scheduler.rules import LONGEST_CADENCE_DAYS
from scheduler.text import (
    EARLIEST_YEAR,
    address_list,
    counted,
    date_text,
    day_text,
    in_supported_range,
    refuse_controls,
)
from web.http.auth import current_user, login_required, runtime, safe_next
from web.http.forms import full_sentence, sentence, whole_number
from web.services import contacts as service
from web.services.accounts import UserView, user_config
from web.services.contacts import SORTS, ContactError, ContactNotFound, PageNotFound

bp = Blueprint("contacts", __name__, url_prefix="/contacts")


def _today(user: UserView) -> date:
    return datetime.now(user_config(runtime(), user).zone).date()


def count_contacts(user_id: int) -> int:
    return service.how_many(runtime(), user_id)


@bp.get("")
@login_required
def index() -> str | tuple[str, int]:
    user = current_user()
    query = request.args.get("q", "").strip()[:200]
    sort = request.args.get("sort", "overdue")
    if sort not in SORTS:
        sort = "overdue"
    raw_page = request.args.get("page", "1").strip()
    page = whole_number(raw_page) if raw_page else 1
    if page == 0:
        page = None  # pages count from 1
    context: dict[str, Any] = {"query": query, "sort": sort, "sorts": SORTS}
    # No page number at all is bad input (400); a page past the end is a page not found (404).
    no_page_number = page is None
    try:
        if page is None:
            raise PageNotFound(f'"{raw_page[:20]}" is not a page number (1, 2, ...)', 1)
        found = service.contact_page(
            runtime(), user.id, now=datetime.now(UTC), query=query, sort=sort, page=page
        )
    except PageNotFound as exc:
        # A page past the end (an old link, a list that shrank): say so, link back.
        return (
            render_template(
                "contacts/index.html",
                **context,
                lines=[],
                total=0,
                snoozed=0,
                plan_status={},
                page=1,
                pages=exc.pages,
                missing=full_sentence(exc),
            ),
            400 if no_page_number else 404,
        )
    return render_template(
        "contacts/index.html",
        **context,
        lines=found.lines,
        total=found.total,
        snoozed=found.snoozed,
        plan_status=found.status,
        page=found.page,
        pages=found.pages,
        missing="",
    )


def _detail_page(
    user: UserView,
    contact_id: int,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    open_edit: bool = False,
) -> str:
    detail = _detail_or_404(user.id, contact_id)
    contact = detail.item.contact
    return render_template(
        "contacts/show.html",
        c=contact,
        line=detail.line,
        detail=detail,
        log=detail.log,
        **_coming_up(user, contact_id),
        errors=errors or {},
        form=form if form is not None else _form_values(contact),
        relationships=[r.value for r in Relationship],
        kinds=[k.value for k in InteractionKind],
        meals=[m.value for m in Meal],
        today=_today(user),
        **({"open_edit": True} if open_edit else {}),
    )


@bp.get("/<int:contact_id>")
@login_required
def show(contact_id: int) -> str:
    return _detail_page(current_user(), contact_id)


def _coming_up(user: UserView, contact_id: int) -> dict[str, Any]:
    """This contact's booked coffees still ahead and invites waiting for an answer."""
    from web.services import invites as invite_service

    now = datetime.now(UTC)
    coffees = [
        c
        for c in invite_service.upcoming(runtime(), user.id, now=now)
        if c.contact_id == contact_id
    ]
    waiting = [
        i
        for i in invite_service.open_invites(runtime(), user.id, now=now)
        if i.contact_id == contact_id
    ]
    return {
        "coffees": coffees,
        "waiting": waiting,
        "zone": user_config(runtime(), user).zone,
    }


def _form_values(c: Contact) -> dict[str, Any]:
    return {
        "name": c.name,
        "emails": ", ".join(c.emails),
        "company": c.company,
        "title": c.title,
        "relationship": c.relationship.value,
        "how_met": c.how_met,
        "cadence_days": c.cadence_days or "",
        "tags": ", ".join(c.tags),
        "city": c.city,
        "timezone": c.timezone or "",
        "notes": c.notes,
        "questions": "\n".join(c.questions),
        "meals": sorted(m.value for m in c.preferred_meals),
        "linkedin_url": c.linkedin_url,
    }


def _parse_contact_form(form: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Read and check the edit/new form; returns clean values and per-field errors."""
    errors: dict[str, str] = {}
    for key, what in (("name", "the name"), ("emails", "the email address")):
        refused = refuse_controls(form.get(key, ""), what)
        if refused:
            errors[key] = refused
    values: dict[str, Any] = {
        key: form.get(key, "").strip()
        for key in ("name", "company", "title", "how_met", "city", "notes", "linkedin_url")
    }
    if not values["name"]:
        errors.setdefault("name", "Enter a name.")
    emails = address_list(form.get("emails", ""))
    bad = [e for e in emails if not service.is_email(e)]
    if bad:
        errors.setdefault("emails", f'"{bad[0]}" is not an email address.')
    values["emails"] = emails
    rel = form.get("relationship", "other")
    if rel not in {r.value for r in Relationship}:
        errors["relationship"] = "Pick a relationship from the list."
        rel = "other"
    values["relationship"] = rel
    cadence = form.get("cadence_days", "").strip()
    values["cadence_days"] = None
    if cadence:
        days = whole_number(cadence)
        if days is None or not 1 <= days <= LONGEST_CADENCE_DAYS:
            errors["cadence_days"] = (
                f"Enter a number of days between 1 and {LONGEST_CADENCE_DAYS}, or leave empty."
            )
        else:
            values["cadence_days"] = days
    zone = form.get("timezone", "").strip()
    problem = service.zone_problem(zone) if zone else None
    if problem:
        errors["timezone"] = problem
    values["timezone"] = zone
    values["tags"] = [t.strip() for t in form.get("tags", "").split(",") if t.strip()]
    values["questions"] = [q.strip() for q in form.get("questions", "").splitlines() if q.strip()]
    # The edit form sends an empty "meals" beside the boxes, so that none ticked is an answer.
    meals = [m for m in form.getlist("meals") if m]
    values["meals"] = sorted(m for m in meals if m in {x.value for x in Meal})
    if len(values["meals"]) != len(set(meals)):
        errors.setdefault("_form", "Pick meals from the list.")
    return values, errors


NEW_FORM_FIELDS = frozenset({"name", "emails", "company", "how_met", "city"})
EDIT_FORM_FIELDS = NEW_FORM_FIELDS | {"title", "cadence_days", "city", "timezone", "notes"}
EDIT_FORM_FIELDS |= {"linkedin_url", "tags", "questions"}


def _field_error(exc: ContactError, shown: frozenset[str]) -> dict[str, str]:
    """The service's refusal as the form's errors: each beside its field when the form shows
    it, else above the form, so none is lost."""
    message = str(exc)
    if "belongs to another contact" in message:
        message = message.replace("belongs to", "already belongs to")
    return _beside_fields({**exc.problems, exc.field: message}, shown)


def _beside_fields(problems: dict[str, str], shown: frozenset[str]) -> dict[str, str]:
    """Each problem beside its field when the form shows it, else (the first) above the form."""
    errors: dict[str, str] = {}
    for field, message in problems.items():
        errors.setdefault(field if field in shown else "_form", full_sentence(message))
    return errors


def _sent(changes: dict[str, Any], form: Any) -> dict[str, Any]:
    """The changes whose field the form sent: a field left out of a post (a script, a page
    from before a field was added) keeps what is stored; only a field sent empty clears it."""
    return {k: v for k, v in changes.items() if ("meals" if k == "preferred_meals" else k) in form}


def _changes(values: dict[str, Any]) -> dict[str, Any]:
    """The form's clean values as the contact service's changes."""
    changes = {
        key: values[key]
        for key in ("name", "company", "title", "how_met", "city", "notes", "linkedin_url")
    }
    changes.update(
        relationship=values["relationship"],
        cadence_days=values["cadence_days"],
        timezone=values["timezone"],
        tags=values["tags"],
        questions=values["questions"],
        preferred_meals=values["meals"],
        emails=values["emails"],
    )
    return changes


@bp.post("/<int:contact_id>/edit")
@login_required
def edit(contact_id: int) -> WerkzeugResponse | tuple[str, int]:
    user = current_user()
    values, errors = _parse_contact_form(request.form)
    errors = {k: m for k, m in errors.items() if k in request.form or k == "_form"}
    changes = _sent(_changes(values), request.form)
    if errors:  # say at once what the service would refuse too, not after the next send
        try:
            found = service.edit_problems(runtime(), user.id, contact_id, changes)
        except ContactNotFound:
            abort(404)
        for field, message in _beside_fields(found, EDIT_FORM_FIELDS).items():
            errors.setdefault(field, message)
    else:
        try:
            service.update_contact(runtime(), user.id, contact_id, changes)
        except ContactNotFound:
            abort(404)
        except ContactError as exc:
            errors.update(_field_error(exc, EDIT_FORM_FIELDS))
        else:
            flash("Contact saved.", "ok")
            return redirect(url_for("contacts.show", contact_id=contact_id), code=303)
    form = dict(values)
    form["emails"] = request.form.get("emails", "")
    form["tags"] = request.form.get("tags", "")
    form["questions"] = request.form.get("questions", "")
    form["cadence_days"] = request.form.get("cadence_days", "")
    return _detail_page(user, contact_id, errors=errors, form=form, open_edit=True), 400


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> WerkzeugResponse | str | tuple[str, int]:
    user = current_user()
    if request.method == "GET":
        return render_template(
            "contacts/new.html", errors={}, form={}, relationships=[r.value for r in Relationship]
        )
    values, errors = _parse_contact_form(request.form)
    last_met = request.form.get("last_met", "").strip()
    met_on: date | None = None
    if last_met:
        try:
            met_on = date.fromisoformat(last_met)
        except ValueError:
            errors["last_met"] = "Use a date like 2026-03-01."
        else:
            if not in_supported_range(met_on):
                errors["last_met"] = f"Use a date from {EARLIEST_YEAR} on, like 2026-03-01."
            elif met_on > _today(user):
                errors["last_met"] = "That date is in the future."
    new_id = 0
    if errors:  # say at once what the service would refuse too, not after the next send
        found = service.contact_problems(_new_contact(values, met_on))
        for field, message in _beside_fields(found, NEW_FORM_FIELDS).items():
            errors.setdefault(field, message)
    else:
        from web.services.contacts import ContactError, DuplicateContact, create_contact

        try:
            new_id = create_contact(runtime(), user.id, _new_contact(values, met_on))
        except DuplicateContact as exc:
            # The same form sent twice: the contact is there once, and that is the answer.
            flash(f"{values['name']} is already in your contacts; nothing was added twice.", "ok")
            if request.form.get("wizard") == "1":
                return redirect(url_for("setup.contacts"), code=303)
            return redirect(url_for("contacts.show", contact_id=exc.contact_id), code=303)
        except ContactError as exc:
            errors.update(_field_error(exc, NEW_FORM_FIELDS))
    if errors:
        form = {k: request.form.get(k, "") for k in request.form}
        wizard = request.form.get("wizard") == "1"
        template = "setup/contacts.html" if wizard else "contacts/new.html"
        return (
            render_template(
                template,
                errors=errors,
                form=form,
                relationships=[r.value for r in Relationship],
                step=3 if request.form.get("wizard") == "1" else None,
                count=count_contacts(user.id),
                report=None,
            ),
            400,
        )
    if values["emails"]:
        flash(f"Added {values['name']}.", "ok")
    else:
        flash(
            f"Added {values['name']} without an email: add one before you can invite them.",
            "warn",
        )
    if request.form.get("wizard") == "1":
        return redirect(url_for("setup.contacts"), code=303)
    return redirect(url_for("contacts.show", contact_id=new_id), code=303)


def _new_contact(values: dict[str, Any], met_on: date | None) -> Contact:
    """The form's clean values as a domain contact (a "last met" date is its first meeting)."""
    from scheduler.model import Interaction

    return Contact(
        name=values["name"],
        emails=tuple(values["emails"]),
        company=values["company"],
        title=values["title"],
        relationship=Relationship(values["relationship"]),
        tags=tuple(values["tags"]),
        how_met=values["how_met"],
        first_met=met_on,
        interactions=(Interaction(met_on, InteractionKind.MEETING),) if met_on else (),
        cadence_days=values["cadence_days"],
        preferred_meals=frozenset(Meal(m) for m in values["meals"]),
        timezone=values["timezone"] or None,
        city=values["city"],
        notes=values["notes"],
        questions=tuple(values["questions"]),
        linkedin_url=values["linkedin_url"],
    )


@bp.post("/<int:contact_id>/invite")
@login_required
def invite(contact_id: int) -> WerkzeugResponse:
    """Invite this contact to a time of the user's choosing (any day, not only this week's)."""
    from web.errors import UserError
    from web.services.contacts import ContactNotFound, invite_at

    service.name_of(runtime(), current_user().id, contact_id)  # an unknown id: 404 first
    starts: list[datetime] = []
    for suffix in ("", "2", "3"):  # the first time is required, two more are optional
        day = request.form.get(f"day{suffix}", "").strip()
        clock = request.form.get(f"time{suffix}", "").strip()
        if suffix and not day:
            continue
        try:
            starts.append(datetime.fromisoformat(f"{day}T{clock}"))
        except ValueError:
            flash(f'"{day} {clock}" is not a date and time; nothing was sent.', "error")
            return make_response(show(contact_id), 400)  # the page again, saying why
    message = request.form.get("message", "").strip() or None
    try:
        created = invite_at(
            runtime(), current_user().id, contact_id, starts, now=datetime.now(UTC), message=message
        )
    except ContactNotFound:
        abort(404)
    except UserError as exc:
        flash(f"Not sent: {exc}.", "error")
        return make_response(show(contact_id), exc.status)  # 400 bad time, 409 taken
    when = ", ".join(f"{day_text(s)} {s:%Y}, {s:%H:%M}" for s in sorted(set(starts)))
    flash(f"Invite sent for {when}. Link: {created.url}", "ok")
    return redirect(url_for("contacts.show", contact_id=contact_id), code=303)


@bp.get("/<int:contact_id>/delete")
@login_required
def confirm_delete(contact_id: int) -> str:
    """Ask before deleting: say what goes with the contact."""
    user = current_user()
    detail = _detail_or_404(user.id, contact_id)
    return render_template(
        "contacts/delete.html", c=detail.item.contact, **_coming_up(user, contact_id)
    )


@bp.post("/<int:contact_id>/delete")
@login_required
def delete(contact_id: int) -> WerkzeugResponse:
    from web.services.contacts import delete_contact

    done = delete_contact(runtime(), current_user().id, contact_id, now=datetime.now(UTC))
    told = []
    if done.withdrawn:
        told.append(f"{counted(done.withdrawn, 'open invite')} withdrawn")
    if done.cancelled:
        told.append(f"{counted(done.cancelled, 'coffee')} cancelled")
    extra = f" ({', '.join(told)}; they have been told by email)" if told else ""
    flash(f"Deleted {done.name}{extra}.", "ok")
    return redirect(url_for("contacts.index"), code=303)


def _detail_or_404(user_id: int, contact_id: int) -> Any:
    from web.services.contacts import get_contact

    return get_contact(runtime(), user_id, contact_id, now=datetime.now(UTC))


@bp.get("/<int:contact_id>/merge")
@login_required
def merge_page(contact_id: int) -> str:
    """Find and pick the duplicate to fold into this contact (`q` searches like the contacts
    list, and the picker lists the first matches); with one picked, show what will result."""
    from scheduler.merge import merged_fields

    user = current_user()
    keep = _detail_or_404(user.id, contact_id).item.contact
    query = request.args.get("q", "").strip()[:200]
    found = service.names_to_pick(runtime(), user.id, query=query, leave_out=contact_id)
    picked = whole_number(request.args.get("other", ""))
    other: Contact | None = None
    if picked is not None and picked != contact_id:
        try:
            detail = service.get_contact(runtime(), user.id, picked, now=datetime.now(UTC))
        except ContactNotFound:
            detail = None
        other = detail.item.contact if detail is not None else None
    return render_template(
        "contacts/merge.html",
        c=keep,
        query=query,
        matches=found,
        other=other,
        result=merged_fields(keep, other) if other else None,
    )


@bp.post("/<int:contact_id>/merge")
@login_required
def merge(contact_id: int) -> WerkzeugResponse:
    from web.services.contacts import ContactError, ContactNotFound, merge_contacts

    user = current_user()
    service.name_of(runtime(), user.id, contact_id)  # an unknown id: 404 first
    other = whole_number(request.form.get("other", ""))
    if other is None:
        flash("Pick the contact to merge into this one.", "error")
        return make_response(merge_page(contact_id), 400)
    try:
        gone = _detail_or_404(user.id, other).item.contact.name
        kept = merge_contacts(runtime(), user.id, contact_id, other)
    except ContactNotFound:
        abort(404)
    except ContactError as exc:
        flash(f"{sentence(exc)}; nothing was merged.", "error")
        return make_response(merge_page(contact_id), exc.status)
    emails = len(kept.emails)
    flash(
        f"Merged {gone} into {kept.name}: one history, {counted(emails, 'email')}.",
        "ok",
    )
    return redirect(url_for("contacts.show", contact_id=contact_id), code=303)


@bp.post("/meetings/<int:interaction_id>/delete")
@login_required
def delete_meeting(interaction_id: int) -> WerkzeugResponse:
    """Undo a logged meeting (logged by mistake, or the wrong day)."""
    from web.services.contacts import delete_interaction

    contact_id, on = delete_interaction(runtime(), current_user().id, interaction_id)
    flash(f"The meeting on {date_text(on)} is no longer in the history.", "ok")
    return redirect(url_for("contacts.show", contact_id=contact_id), code=303)


@bp.post("/<int:contact_id>/log")
@login_required
def log_meeting(contact_id: int) -> WerkzeugResponse:
    user = current_user()
    raw = request.form.get("on", "").strip()
    kind = request.form.get("kind", "coffee")
    notes = request.form.get("notes", "")
    try:
        on = date.fromisoformat(raw)
    except ValueError:
        flash(f'"{raw}" is not a date like 2026-03-01; nothing was logged.', "error")
        return make_response(show(contact_id), 400)  # the page again, saying why
    if not in_supported_range(on):
        flash(f"{raw} is before {EARLIEST_YEAR} or far ahead; nothing was logged.", "error")
        return make_response(show(contact_id), 400)
    if on > _today(user):
        flash("A meeting can only be logged for today or earlier.", "error")
        return make_response(show(contact_id), 400)
    try:
        service.log_interaction(runtime(), user.id, contact_id, on=on, kind=kind, notes=notes)
    except ContactNotFound:
        abort(404)
    except ContactError as exc:
        flash(f"{sentence(exc)}; nothing was logged.", "error")
        return make_response(show(contact_id), 400)
    flash("Meeting logged; the cadence starts again from that day.", "ok")
    return redirect(url_for("contacts.show", contact_id=contact_id), code=303)


@bp.post("/<int:contact_id>/snooze")
@login_required
def snooze(contact_id: int) -> WerkzeugResponse:
    user = current_user()
    raw = request.form.get("days", "").strip()
    if raw in ("", "0"):
        name = service.snooze(runtime(), user.id, contact_id, None)
        flash(f"{name} is no longer snoozed.", "ok")
        return redirect(_back_to(contact_id), code=303)
    try:
        done = service.snooze_for(
            runtime(), user.id, contact_id, whole_number(raw), now=datetime.now(UTC)
        )
    except ContactNotFound:
        abort(404)
    except ContactError as exc:
        flash(full_sentence(exc), "error")
        return make_response(show(contact_id), exc.status)
    flash(f"{done.name} snoozed until {date_text(done.until)}.", "ok")
    return redirect(_back_to(contact_id), code=303)


def _back_to(contact_id: int) -> str:
    target = request.form.get("next", "")
    if target:
        return safe_next(target)
    return url_for("contacts.show", contact_id=contact_id)


@bp.post("/<int:contact_id>/do-not-invite")
@login_required
def do_not_invite(contact_id: int) -> WerkzeugResponse:
    raw = request.form.get("value", "")
    if raw not in ("0", "1"):  # the page's two buttons send 1 or 0; anything else is no answer
        service.name_of(runtime(), current_user().id, contact_id)  # an unknown id: 404 first
        abort(400)
    value = raw == "1"
    name = service.set_do_not_invite(runtime(), current_user().id, contact_id, value)
    flash(f"{name} will not be invited." if value else f"{name} can be invited again.", "ok")
    return redirect(_back_to(contact_id), code=303)


@bp.post("/import")
@login_required
def import_file() -> WerkzeugResponse | str | tuple[str, int]:
    """Import an uploaded CSV, LinkedIn export or vCard; show the per-row report."""
    user = current_user()
    upload = request.files.get("file")
    wizard = request.form.get("wizard") == "1"
    template = "setup/contacts.html" if wizard else "contacts/import.html"
    context: dict[str, Any] = {
        "step": 3 if wizard else None,
        "errors": {},
        "form": {},
        "relationships": [r.value for r in Relationship],
    }
    if upload is None or not upload.filename:
        context["errors"] = {"import": "Choose a file to import."}
        context.update(count=count_contacts(user.id), report=None)
        return render_template(template, **context), 400
    fmt = request.form.get("format", "") or "auto"
    if fmt not in ("auto", "csv", "linkedin", "vcard"):
        context["errors"] = {
            "import": f"The format {fmt[:40]!r} is not one of auto, csv, linkedin or vcard: "
            "nothing was imported."
        }
        context.update(count=count_contacts(user.id), report=None)
        return render_template(template, **context), 400
    data = upload.read()
    # The same column mapping as the CLI's --map ("Full Name=name,E-mail=email").
    mapping = request.form.get("map", "").strip()[:2000] or None
    context["form"] = {"map": mapping or ""}
    try:
        report = service.import_file(
            runtime(), user.id, data, filename=upload.filename, format=fmt, mapping=mapping
        )
    except ContactError as exc:  # names the file (and line); nothing was stored
        # Anything else (the database unavailable: 503, the disk full: 507) is the app's error
        # handlers' to answer; the import's transaction was rolled back either way.
        context["errors"] = {"import": _for_the_web(str(exc))}
        context.update(count=count_contacts(user.id), report=None)
        return render_template(template, **context), 400
    context.update(count=count_contacts(user.id), report=report, filename=upload.filename)
    return render_template(template, **context)


def _for_the_web(message: str) -> str:
    """The importer's wording is the CLI's; on the web, --map is the "Column mapping" field."""
    if message.startswith("--map: "):
        return "Column mapping: " + message[len("--map: ") :]
    if "--map" not in message:
        return message
    if "no name or email column" not in message:
        return message.replace("from --map", "from the column mapping")
    where = message.split("no name or email column", 1)[0]
    return (
        f"{where}no name or email column in the header. Rename your columns to name, email, "
        "company, … (the CSV template linked above has them all), or map them in “Column "
        "mapping” (like: Full Name=name,E-mail=email), then import it again."
    )


@bp.get("/template.csv")
@login_required
def csv_template() -> Response:
    """An empty CSV with meetagain's own header, to fill in and import."""
    return Response(
        service.csv_template(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="meetagain-contacts-template.csv"'},
    )


@bp.get("/import")
@login_required
def import_page() -> str:
    return render_template(
        "contacts/import.html",
        step=None,
        errors={},
        form={},
        report=None,
        count=count_contacts(current_user().id),
    )


@bp.get("/export.csv")
@login_required
def export() -> Response:
    """All of the user's contacts as the native CSV (re-importable)."""
    text = service.export_file(runtime(), current_user().id)
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="meetagain-contacts.csv"'},
    )


@bp.post("/<int:contact_id>/unpause")
@login_required
def unpause(contact_id: int) -> WerkzeugResponse:
    """Invite again a contact that was paused after ignored invites."""
    from web.services.contacts import unpause as do_unpause

    do_unpause(runtime(), current_user().id, contact_id, now=datetime.now(UTC))
    flash("They can be invited again.", "ok")
    return redirect(_back_to(contact_id), code=303)


@bp.post("/interactions/<int:interaction_id>")
@login_required
def confirm_interaction(interaction_id: int) -> WerkzeugResponse:
    """Confirm (or reject) a meeting found in a calendar before it counts."""
    from web.services.contacts import confirm_interactions

    confirm = request.form.get("action") == "confirm"
    done, dropped = confirm_interactions(
        runtime(),
        current_user().id,
        [interaction_id] if confirm else [],
        reject=[] if confirm else [interaction_id],
    )
    if not done and not dropped:
        abort(404)
    flash("Meeting confirmed." if confirm else "Not counted as a meeting.", "ok")
    target = request.form.get("next", "")
    return redirect(safe_next(target), code=303)
