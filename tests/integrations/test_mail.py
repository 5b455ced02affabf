"""Mail delivery against a real SMTP server (aiosmtpd on loopback) and the file outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from integrations.icalendar_invite import CoffeeEvent, build_ics, validate
from integrations.invite_email import Party, attach_calendar, build_invite_email, build_notice
from integrations.mail import FileMailer, MailError, SmtpMailer, mailer_from_config
from scheduler.model import ProposedTime
from tests.conftest import make_config
from tests.helpers.invite_fixtures import self_signed_tls, smtp_server

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def _message(to: str = "ana@example.org", subject: str = "Coffee?") -> bytes:
    msg = build_notice(
        from_address="meetagain@example.com",
        on_behalf_of=Party("Olivia Owner", "olivia@example.com"),
        to=Party("Ana Souza", to),
        subject=subject,
        paragraphs=["Grüße! Would you like a coffee?"],
        when=NOW,
    )
    return msg.as_bytes()


def test_the_file_mailer_writes_one_eml_per_message_and_a_resend_replaces_it(
    tmp_path: Path,
) -> None:
    mailer = FileMailer(tmp_path / "outbox")
    first, second = _message(subject="One"), _message(subject="Two")
    mailer.send(first, sender="meetagain@example.com", recipients=["ana@example.org"])
    mailer.send(second, sender="meetagain@example.com", recipients=["ana@example.org"])
    mailer.send(first, sender="meetagain@example.com", recipients=["ana@example.org"])
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2
    assert {m.subject for m in mailer.messages()} == {"One", "Two"}
    assert not list((tmp_path / "outbox").glob("*.tmp"))


def test_smtp_delivers_a_multipart_message(tmp_path: Path) -> None:
    with smtp_server() as server:
        SmtpMailer("127.0.0.1", server.port, security="none", timeout=5).send(
            _message(), sender="meetagain@example.com", recipients=["ana@example.org"]
        )
        [got] = server.received
    assert got.recipients == ["ana@example.org"]
    assert got.message["Reply-To"].addresses[0].addr_spec == "olivia@example.com"
    types = [p.get_content_type() for p in got.message.walk()]
    assert types == ["multipart/alternative", "text/plain", "text/html"]
    assert "Grüße" in got.message.get_body(preferencelist=("plain",)).get_content()


def test_smtp_starttls_with_authentication(tmp_path: Path) -> None:
    server_tls, client_tls = self_signed_tls(tmp_path)
    with smtp_server(tls=server_tls, credentials=("olivia", "s3cret")) as server:
        SmtpMailer(
            "127.0.0.1",
            server.port,
            security="starttls",
            username="olivia",
            password="s3cret",
            timeout=5,
            ssl_context=client_tls,
        ).send(_message(), sender="meetagain@example.com", recipients=["ana@example.org"])
        assert len(server.received) == 1
        with pytest.raises(MailError) as wrong:
            SmtpMailer(
                "127.0.0.1",
                server.port,
                security="starttls",
                username="olivia",
                password="nope",
                timeout=5,
                ssl_context=client_tls,
            ).send(_message(), sender="meetagain@example.com", recipients=["ana@example.org"])
    assert "535" in wrong.value.reason and not wrong.value.permanent


def test_smtp_over_implicit_tls(tmp_path: Path) -> None:
    server_tls, client_tls = self_signed_tls(tmp_path)
    with smtp_server(tls=server_tls, implicit_tls=True) as server:
        SmtpMailer(
            "127.0.0.1", server.port, security="ssl", timeout=5, ssl_context=client_tls
        ).send(_message(), sender="meetagain@example.com", recipients=["ana@example.org"])
        assert len(server.received) == 1


def test_an_unreachable_smtp_server_is_a_temporary_failure() -> None:
    with smtp_server() as server:
        port = server.port
    with pytest.raises(MailError) as failed:
        SmtpMailer("127.0.0.1", port, security="none", timeout=2).send(
            _message(), sender="meetagain@example.com", recipients=["ana@example.org"]
        )
    assert not failed.value.permanent
    assert f"127.0.0.1:{port}" in failed.value.reason


def test_a_refused_recipient_is_a_permanent_failure_with_the_servers_reason() -> None:
    with smtp_server() as server:
        server.reject("ana@example.org", "550 5.1.1 <ana@example.org>: User unknown")
        with pytest.raises(MailError) as refused:
            SmtpMailer("127.0.0.1", server.port, security="none", timeout=5).send(
                _message(), sender="meetagain@example.com", recipients=["ana@example.org"]
            )
        assert server.received == []
    assert refused.value.permanent
    assert "550" in refused.value.reason and "User unknown" in refused.value.reason


def test_one_refused_recipient_of_two_is_final_so_the_other_gets_no_duplicate() -> None:
    with smtp_server() as server:
        server.reject("bob@example.org", "550 5.1.1 no such user")
        with pytest.raises(MailError) as partial:
            SmtpMailer("127.0.0.1", server.port, security="none", timeout=5).send(
                _message(),
                sender="meetagain@example.com",
                recipients=["ana@example.org", "bob@example.org"],
            )
        assert [r.recipients for r in server.received] == [["ana@example.org"]]
    assert partial.value.permanent and "bob@example.org" in partial.value.reason


def test_the_mailer_follows_the_config_and_reads_the_password_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file_mailer = mailer_from_config(make_config(tmp_path))
    assert isinstance(file_mailer, FileMailer)
    assert file_mailer.folder == tmp_path / "instance" / "outbox"
    monkeypatch.setenv("SMTP_PW", "from-env")
    smtp = mailer_from_config(
        make_config(
            tmp_path,
            mail={
                "backend": "smtp",
                "host": "127.0.0.1",
                "port": 2525,
                "security": "none",
                "username": "olivia",
                "password_env": "SMTP_PW",
                "timeout_seconds": 7,
            },
        )
    )
    assert isinstance(smtp, SmtpMailer)
    assert (smtp.password, smtp.timeout, smtp.security) == ("from-env", 7, "none")


def _event() -> CoffeeEvent:
    start = datetime(2026, 12, 1, 12, 0, tzinfo=BERLIN)
    return CoffeeEvent(
        uid="abc123@example.com",
        sequence=0,
        start=start,
        end=start + timedelta(minutes=45),
        summary="Coffee: Olivia & Ana",
        description="Booked through meetagain",
        organizer_email="olivia@example.com",
        organizer_name="Olivia Owner",
        attendee_email="ana@example.org",
        attendee_name="Ana Souza",
    )


def test_an_icalendar_request_has_uid_organizer_attendee_sequence_and_utc_times() -> None:
    data = build_ics(_event(), method="REQUEST", dtstamp=NOW)
    cal = Calendar.from_ical(data)
    assert str(cal["method"]) == "REQUEST"
    [ev] = cal.walk("VEVENT")
    assert str(ev["uid"]) == "abc123@example.com" and int(ev["sequence"]) == 0
    assert str(ev["organizer"]) == "mailto:olivia@example.com"
    assert str(ev["attendee"]) == "mailto:ana@example.org"
    assert b"DTSTART:20261201T110000Z" in data  # 12:00 Berlin, written in UTC
    cancel = Calendar.from_ical(build_ics(_event(), method="CANCEL", dtstamp=NOW))
    assert str(cancel["method"]) == "CANCEL"
    assert str(cancel.walk("VEVENT")[0]["status"]) == "CANCELLED"


def test_an_icalendar_that_does_not_say_what_was_meant_is_refused() -> None:
    data = build_ics(_event(), method="REQUEST", dtstamp=NOW)
    other = _event()
    with pytest.raises(ValueError, match="DTSTART"):
        validate(
            data,
            CoffeeEvent(**{**other.__dict__, "start": other.start + timedelta(hours=1)}),
            method="REQUEST",
        )
    with pytest.raises(ValueError, match="method"):
        build_ics(_event(), method="PUBLISHX", dtstamp=NOW)


def test_the_invite_email_links_each_time_and_names_zones_when_the_invitees_is_unknown() -> None:
    start = datetime(2026, 12, 1, 12, 0, tzinfo=BERLIN)
    times = [ProposedTime(start, start + timedelta(minutes=45), "lunch")]
    msg = build_invite_email(
        from_address="meetagain@example.com",
        owner=Party("Olivia Owner", "olivia@example.com"),
        invitee=Party("Ana Souza", "ana@example.org"),
        message_text="Hi Ana,\ncoffee?",
        times=times,
        zone_names=["Europe/Berlin", "UTC"],
        url="http://127.0.0.1:5000/i/TOKEN",
        when=NOW,
    )
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "Tue 1 Dec, 12:00–12:45 (Europe/Berlin) / Tue 1 Dec, 11:00–11:45 (UTC)" in text
    assert "http://127.0.0.1:5000/i/TOKEN?pick=2026-12-01T11:00:00Z" in text
    assert msg["From"].addresses[0].addr_spec == "meetagain@example.com"
    assert msg["From"].addresses[0].display_name == "Olivia Owner via meetagain"
    attach_calendar(msg, build_ics(_event(), method="REQUEST", dtstamp=NOW), method="REQUEST")
    types = [p.get_content_type() for p in msg.walk()]
    assert "text/calendar" in types and "application/ics" in types
