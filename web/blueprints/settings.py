"""Settings: every setup step, the Google connection and the contacts export, in one place."""

from __future__ import annotations

from flask import Blueprint, render_template

from web.auth import current_user, login_required, runtime
from web.blueprints.contacts import count_contacts
from web.services.accounts import user_config
from web.services.google import connection

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.get("")
@login_required
def index() -> str:
    user = current_user()
    config = user_config(runtime(), user)
    return render_template(
        "settings/index.html",
        user=user,
        config=config,
        google=connection(runtime(), user.id),
        contacts=count_contacts(user.id),
    )
