"""Owner accounts: first-run setup, sign-in, per-user settings (zone, windows, rules)."""

from __future__ import annotations

import copy
import functools
import secrets
from datetime import UTC, datetime
from typing import Any, Protocol

from werkzeug.security import check_password_hash, generate_password_hash

from integrations.config import Config, ConfigError, check_meeting_lengths, with_user_settings
from integrations.crypto import SecretBox
from integrations.storage.accounts import ADMIN as ADMIN  # re-exported
from integrations.storage.accounts import USER as USER  # re-exported
from integrations.storage.accounts import Account, AccountStore
from integrations.storage.db import transaction
from integrations.storage.user_sessions import UserSessionStore
from integrations.zones import zone_choices as zone_choices  # the settings' zone list
from scheduler.text import is_email_address, refuse_controls
from web.composition import Runtime
from web.errors import Invalid, NotFound
from web.instance import read_secret
from web.services.tokens import hash_token

MIN_PASSWORD = 10
# zxcvbn's score: 3 is "safely unguessable" (about 10^8 guesses or more).
MIN_STRENGTH = 3
# zxcvbn's time grows with the length, and since 4.5 it refuses more than 72 characters (the
# whole password is still hashed): beyond this many characters a password is strong anyway.
STRENGTH_CHECKED_CHARS = 72

# A user as the app shows them: the account store's record.
UserView = Account


# Compared against when the email is unknown, so a miss costs as much as a hit.
@functools.cache
def _dummy_hash() -> str:
    """A hash to check against for unknown users (same time as a real check); made on first
    use, not at import: commands that never sign anyone in should not pay for it."""
    return generate_password_hash("not-a-real-password")


class AccountError(Invalid):
    """Bad account input; `field` names the form field it belongs to."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class AccountNotFound(AccountError, NotFound):
    """No account of that id (a 404, on the form's page)."""


def secret_box(runtime: Runtime) -> SecretBox:
    """The Fernet box keyed from this instance's secret (env or instance folder)."""
    return SecretBox(read_secret(runtime.config.instance_dir))


def needs_first_account(runtime: Runtime) -> bool:
    """True until some user has a password: the setup page is open only then."""
    with transaction(runtime.sessions, read_only=True) as session:
        return not AccountStore(session).has_owner()


def _check_email(email: str) -> str:
    refused = refuse_controls(email, "the email address")
    if refused:
        raise AccountError(refused, "email")
    email = email.strip().lower()
    if len(email) > 320 or not is_email_address(email, dotless_host=True):
        raise AccountError("Enter an email address like you@example.com.", "email")
    return email


def _check_name(name: str) -> str:
    refused = refuse_controls(name, "the name")
    if refused:
        raise AccountError(refused, "name")
    return name.strip()


def password_problem(password: str, *hints: str) -> str | None:
    """Why `password` is too weak (at least MIN_PASSWORD characters, not easy to guess for
    zxcvbn, not made of the account's own email or name), or None when it will do."""
    if len(password) < MIN_PASSWORD:
        return f"Choose a password of at least {MIN_PASSWORD} characters."
    inputs = [h for hint in hints if hint for h in (hint, *hint.replace("@", " ").split())]
    # Imported here: planning and contacts import this module for the user's config, and
    # loading the password checker (its dictionaries, about 25 ms) is no use to them.
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:STRENGTH_CHECKED_CHARS], user_inputs=inputs)
    if result["score"] >= MIN_STRENGTH:
        return None
    feedback = result.get("feedback") or {}
    why = str(feedback.get("warning") or "").rstrip(".")
    tips = " ".join(str(t) for t in feedback.get("suggestions") or ())
    reason = f" ({why})" if why else ""
    return (
        f"This password is too easy to guess{reason}. "
        f"{tips or 'Add a few uncommon words.'} A few unrelated words make a strong one."
    ).strip()


def repeat_problem(password: str, again: str) -> str | None:
    """Why a new password typed twice (setup, Settings' password change) is refused: the two
    entries differ. None when they are the same."""
    return None if password == again else "The two passwords differ."


def _check_password(password: str, *hints: str, field: str = "password") -> None:
    problem = password_problem(password, *hints)
    if problem:
        raise AccountError(problem, field)


def create_first_account(runtime: Runtime, email: str, password: str, name: str = "") -> int:
    """Create the owner, or claim the password-less user `meetagain init`/`demo` made; the
    owner is the admin. The setup link of `meetagain init` is used up."""
    email = _check_email(email)
    name = _check_name(name)
    _check_password(password, email, name)
    with transaction(runtime.sessions) as session:
        store = AccountStore(session)
        if store.has_owner():
            raise AccountError("This meetagain already has an owner: sign in instead.")
        return store.claim_owner(
            email=email,
            name=name,
            password_hash=generate_password_hash(password),
            timezone=runtime.config.owner.timezone,
            now=datetime.now(UTC),
        )


def create_user(
    runtime: Runtime, email: str, password: str, name: str = "", timezone: str = ""
) -> int:
    """Add another user with their own data (several people can share one database)."""
    email = _check_email(email)
    name = _check_name(name)
    _check_password(password, email, name)
    with transaction(runtime.sessions) as session:
        store = AccountStore(session)
        if store.email_taken(email):
            raise AccountError("There is already an account with this email.", "email")
        return store.add(
            email=email,
            name=name or email.split("@")[0],
            password_hash=generate_password_hash(password),
            timezone=timezone or runtime.config.owner.timezone,
            now=datetime.now(UTC),
        )


def change_password(
    runtime: Runtime, user_id: int, current: str | None, new: str, *, keep_session: str = ""
) -> None:
    """Set a new password and end every session of the user but `keep_session` (a session
    token: the browser that changed it). `current` must match the old password (None: not
    asked, for the CLI run by whoever administers the instance, e.g. after a forgotten one)."""
    from web.services.user_sessions import end_sessions

    with transaction(runtime.sessions) as session:
        store = AccountStore(session)
        found = store.credentials_of(user_id)
        if found is None:
            raise AccountError("There is no such account.")
        if current is not None and not (
            found.password_hash and check_password_hash(found.password_hash, current)
        ):
            raise AccountError("That is not your current password.", "current_password")
        _check_password(new, found.email, found.name, field="new_password")
        store.set_password_hash(user_id, generate_password_hash(new))
    end_sessions(runtime, user_id, keep_token=keep_session)


def authenticate(runtime: Runtime, email: str, password: str) -> int | None:
    """The user id when email and password match, else None; AccountError when they match a
    disabled account."""
    email = email.strip().lower()
    with transaction(runtime.sessions, read_only=True) as session:
        found = AccountStore(session).credentials(email)
        if found is None or not found.password_hash:
            check_password_hash(_dummy_hash(), password)
            return None
        if not check_password_hash(found.password_hash, password):
            return None
        if found.disabled:
            raise AccountError("This account is disabled: ask the admin of this meetagain.")
        return found.user_id


def get_user(runtime: Runtime, user_id: int) -> UserView | None:
    with transaction(runtime.sessions, read_only=True) as session:
        return AccountStore(session).account(user_id)


class HasSettings(Protocol):
    """A user record or row: what the effective config is built from."""

    @property
    def settings(self) -> Any: ...

    @property
    def timezone(self) -> Any: ...


def account_and_config(session: Any, runtime: Runtime, user_id: int) -> tuple[Account, Config]:
    """The user (in the caller's unit of work) and the config as they see it (`user_config`);
    NotFound when there is no such user."""
    user = AccountStore(session).account(user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user, user_config(runtime, user)


def user_config(runtime: Runtime, user: HasSettings) -> Config:
    """The config as this user sees it: their windows, scheduling, rules and zone. Settings the
    config file no longer allows (they were checked when saved) give way to the file's values."""
    try:
        return with_user_settings(runtime.config, user.settings or {}, user.timezone or "")
    except ConfigError:
        return runtime.config


def _save_settings(
    runtime: Runtime,
    user_id: int,
    changes: dict[str, Any],
    timezone: str | None = None,
    *,
    merge: tuple[str, ...] = (),
) -> None:
    """Store `changes` over the user's settings (a section replaced whole, but those named in
    `merge`, whose keys are set one by one); validated like the file, nothing stored on error."""
    with transaction(runtime.sessions) as session:
        store = AccountStore(session)
        user = store.account(user_id)
        if user is None:
            raise AccountError("This account no longer exists.")
        settings = copy.deepcopy(user.settings)
        for section, values in changes.items():
            kept = settings.get(section)
            if section in merge and isinstance(kept, dict):
                values = {**kept, **values}
            settings[section] = values
        zone = timezone if timezone is not None else user.timezone
        # Validate exactly like the config file; nothing is stored when this raises.
        try:
            check_meeting_lengths(with_user_settings(runtime.config, settings, zone))
        except ConfigError as exc:
            sections = [v for v in changes.values() if isinstance(v, dict)]
            if exc.key and any(exc.key in v for v in sections):
                # A form field's own value: worded for the form, whose field says which.
                problem = exc.problem
                raise AccountError(f"{problem[:1].upper()}{problem[1:]}.", exc.key) from None
            message = str(exc).split("(user settings): ", 1)[-1]
            raise AccountError(message) from None
        store.set_settings(user_id, settings, zone)


def save_time_and_windows(
    runtime: Runtime,
    user_id: int,
    timezone: str,
    windows: dict[str, dict[str, Any]],
    *,
    city: str | None = None,
) -> None:
    """Store the user's zone and meal windows, and with `city` their home city (validated;
    nothing changes on error)."""
    if not windows:
        raise AccountError("Keep at least one meal window.", "windows")
    changes: dict[str, Any] = {"windows": windows}
    if city is not None:
        changes["owner"] = {"city": city}
    _save_settings(runtime, user_id, changes, timezone, merge=("owner",))
    advance_setup(runtime, user_id, 1)


def save_rules(
    runtime: Runtime, user_id: int, rules: dict[str, Any], scheduling: dict[str, Any]
) -> None:
    _save_settings(runtime, user_id, {"rules": rules, "scheduling": scheduling})
    advance_setup(runtime, user_id, 4)


def save_owner_place(runtime: Runtime, user_id: int, city: str, video_room_url: str) -> None:
    """Store the user's home city and video-room URL (validated like [owner] in the file)."""
    _save_settings(runtime, user_id, {"owner": {"city": city, "video_room_url": video_room_url}})


def save_email_settings(
    runtime: Runtime,
    user_id: int,
    *,
    digest: bool,
    reminder_days_before: str,
    reminder_time: str,
) -> None:
    """Store the weekly digest opt-out and the reminder's day and time (validated like
    [emails] in the file; nothing changes on error)."""
    from web.http.forms import whole_number

    days = whole_number(reminder_days_before)
    if days is None:
        raise AccountError(
            "Days before must be a whole number from 0 to 14.", "reminder_days_before"
        )
    changes = {
        "digest": digest,
        "reminder_days_before": days,
        "reminder_time": reminder_time.strip(),
    }
    _save_settings(runtime, user_id, {"emails": changes})


def advance_setup(runtime: Runtime, user_id: int, step: int) -> None:
    """Remember the furthest wizard step the user completed."""
    with transaction(runtime.sessions) as session:
        AccountStore(session).advance_setup(user_id, step)


# ---------------------------------------------------------------- admin: users and setup link


def list_users(runtime: Runtime) -> list[UserView]:
    """Every account, oldest first (for the admin's users page)."""
    with transaction(runtime.sessions) as session:
        return AccountStore(session).accounts()


def _other_user(store: AccountStore, admin_id: int, user_id: int) -> Account:
    admin = store.account(admin_id)
    if admin is None or admin.role != ADMIN or admin.disabled:
        raise AccountError("Only an admin can change other accounts.")
    if user_id == admin_id:
        raise AccountError("You cannot disable or remove your own account.")
    user = store.account(user_id)
    if user is None:
        raise AccountNotFound("There is no such account.")
    return user


def set_disabled(runtime: Runtime, admin_id: int, user_id: int, disabled: bool) -> str:
    """Disable (every session ends, sign-in refused) or enable an account; returns its email."""
    with transaction(runtime.sessions) as session:
        store = AccountStore(session)
        user = _other_user(store, admin_id, user_id)
        store.set_disabled(user_id, disabled)
        if disabled:
            UserSessionStore(session).end_all(user_id)
        return user.email


def remove_user(runtime: Runtime, admin_id: int, user_id: int) -> str:
    """Delete an account and all its data (contacts, calendars, invites); returns its email."""
    with transaction(runtime.sessions) as session:
        store = AccountStore(session)
        user = _other_user(store, admin_id, user_id)
        store.remove(user_id)
        return user.email


def new_setup_token(runtime: Runtime) -> str | None:
    """On a fresh instance, a new one-time setup token (replacing any earlier one); None once
    an account exists."""
    token = secrets.token_urlsafe(24)
    with transaction(runtime.sessions) as session:
        store = AccountStore(session)
        if store.has_owner():
            return None
        store.replace_setup_token(hash_token(token), now=datetime.now(UTC))
    return token


def setup_token_valid(runtime: Runtime, token: str) -> bool:
    """True when `token` is the setup link `meetagain init` printed (and not used yet)."""
    if not token:
        return False
    with transaction(runtime.sessions) as session:
        return AccountStore(session).setup_token_exists(hash_token(token))


def update_profile(runtime: Runtime, user_id: int, name: str, email: str) -> UserView:
    """Change your own name and email (the email you sign in with); nothing changes on error."""
    name = _check_name(name)
    if not name:
        raise AccountError("Enter your name: invites are signed with it.", "name")
    if len(name) > 200:
        raise AccountError("Keep your name under 200 characters.", "name")
    email = _check_email(email)
    with transaction(runtime.sessions) as session:
        store = AccountStore(session)
        if store.account(user_id) is None:
            raise AccountError("This account no longer exists.")
        if store.email_taken(email, but=user_id):
            raise AccountError("Another account already signs in with that email.", "email")
        return store.set_profile(user_id, name=name, email=email)


def save_invite_text(runtime: Runtime, user_id: int, template: str, signature: str) -> None:
    """Store your own invite message template and signature ("" = the built-in message)."""
    from scheduler.message import MAX_SIGNATURE, MAX_TEMPLATE, PLACEHOLDERS, template_problems

    for value, what, field_name in (
        (template, "the message template", "message_template"),
        (signature, "the signature", "signature"),
    ):
        refused = refuse_controls(value.replace("\r", "").replace("\n", ""), what)
        if refused:
            raise AccountError(refused, field_name)
    if len(template) > MAX_TEMPLATE:
        raise AccountError(
            f"Keep the template under {MAX_TEMPLATE} characters.", "message_template"
        )
    if len(signature) > MAX_SIGNATURE:
        raise AccountError(f"Keep the signature under {MAX_SIGNATURE} characters.", "signature")
    problems = template_problems(template)
    if problems:
        first = problems[0]
        known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
        if first.kind == "doubled":
            text = (
                f"The template uses {first.written}: write it in single braces, {{{first.name}}}."
            )
        elif first.kind == "unclosed":
            text = f"The template uses {first.written}, which is never closed: use {known}."
        else:
            text = f"The template uses {first.written}, which is no placeholder: use {known}."
        raise AccountError(text, "message_template")
    with transaction(runtime.sessions) as session:
        store = AccountStore(session)
        if store.account(user_id) is None:
            raise AccountError("This account no longer exists.")
        store.set_invite_text(
            user_id,
            template=template.replace("\r\n", "\n").strip(),
            signature=signature.replace("\r\n", "\n").strip(),
        )
