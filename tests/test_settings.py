"""Settings: every ``WIDGET_*`` value is checked at start-up, and a wrong one names itself."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from widget import create_app
from widget.extensions import db
from widget.settings import ConfigurationError, MailURL, Settings, parse_mail_url

NEW_KEY = "newkey-0123456789abcdef"
OLD_KEY = "oldkey-0123456789abcdef"


def test_an_empty_environment_gives_the_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env({}, instance_path=tmp_path)

    assert settings.database_url == f"sqlite:///{tmp_path / 'widget.db'}"
    assert settings.mail == MailURL("outbox")
    assert settings.mail.delivers is False
    assert settings.mail_from == "actions@localhost"
    assert settings.ratelimit_storage_url == "memory://"
    assert settings.public_url is None
    assert settings.trusted_proxies == 0


def test_without_a_secret_key_one_is_generated_into_the_instance_folder(tmp_path: Path) -> None:
    settings = Settings.from_env({}, instance_path=tmp_path / "instance")

    key_file = tmp_path / "instance" / "secret_key"
    assert key_file.read_text() == settings.secret_key
    assert len(settings.secret_key) >= 16
    assert settings.secret_keys == (settings.secret_key,)


def test_the_generated_secret_key_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    Settings.from_env({}, instance_path=tmp_path)

    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_the_generated_secret_key_is_reused_on_the_next_start(tmp_path: Path) -> None:
    first = Settings.from_env({}, instance_path=tmp_path)
    second = Settings.from_env({}, instance_path=tmp_path)

    assert second.secret_key == first.secret_key


def test_comma_separated_secret_keys_rotate_with_the_first_signing(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"WIDGET_SECRET_KEY": f"{NEW_KEY},{OLD_KEY}"}, instance_path=tmp_path
    )

    assert settings.secret_keys == (NEW_KEY, OLD_KEY)
    assert settings.secret_key == NEW_KEY
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("short-key", id="shorter-than-16"),
        pytest.param(f"{NEW_KEY},", id="empty-entry"),
        pytest.param(f"{NEW_KEY},short", id="short-rotated-key"),
    ],
)
def test_a_weak_secret_key_is_refused_naming_the_variable(tmp_path: Path, value: str) -> None:
    with pytest.raises(
        ConfigurationError, match=r"^WIDGET_SECRET_KEY: every key must be at least 16"
    ):
        Settings.from_env({"WIDGET_SECRET_KEY": value}, instance_path=tmp_path)


def test_an_unknown_widget_variable_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"^Unknown setting WIDGET_FOO\. Known settings: "):
        Settings.from_env({"WIDGET_FOO": "1"}, instance_path=tmp_path)


def test_variables_of_other_programs_are_ignored(tmp_path: Path) -> None:
    settings = Settings.from_env({"FLASK_APP": "widget", "HOME": "/root"}, instance_path=tmp_path)

    assert settings.trusted_proxies == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WIDGET_MAIL_URL", "http://x"),
        ("WIDGET_MAIL_URL", "smtp://"),
        ("WIDGET_MAIL_URL", "smtp://mail.example.org:notaport"),
        ("WIDGET_MAIL_URL", "smtp://mail.example.org?timeout=soon"),
        ("WIDGET_MAIL_FROM", "nobody"),
        ("WIDGET_MAIL_FROM", "a@example.org\r\nBcc: b@example.org"),
        ("WIDGET_RATELIMIT_STORAGE_URL", "mysql://x"),
        ("WIDGET_PUBLIC_URL", "example.org"),
        ("WIDGET_PUBLIC_URL", "ftp://x"),
        ("WIDGET_TRUSTED_PROXIES", "-1"),
        ("WIDGET_TRUSTED_PROXIES", "two"),
        ("WIDGET_TRUSTED_PROXIES", "11"),
        ("WIDGET_RATELIMIT_SIGN", "lots"),
    ],
)
def test_a_malformed_value_is_refused_naming_its_variable(
    tmp_path: Path, name: str, value: str
) -> None:
    with pytest.raises(ConfigurationError, match=f"^{name}[=:]"):
        Settings.from_env({name: value}, instance_path=tmp_path)


def test_an_smtp_url_gives_host_port_username_and_starttls() -> None:
    mail = parse_mail_url("smtp://user:pa%40ss@mail.example.org:587?starttls=1")

    assert (mail.scheme, mail.host, mail.port) == ("smtp", "mail.example.org", 587)
    assert mail.username == "user"
    assert mail.starttls is True
    assert mail.timeout == 10.0
    assert mail.delivers is True


def test_an_smtp_url_without_starttls_does_not_ask_for_it() -> None:
    assert parse_mail_url("smtp://mail.example.org:587").starttls is False


def test_a_percent_encoded_smtp_password_is_decoded_for_login(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"WIDGET_MAIL_URL": "smtp://user:pa%40ss@mail.example.org:587?starttls=1"},
        instance_path=tmp_path,
    )

    assert settings.mail.password == "pa@ss"


def test_a_percent_encoded_smtp_username_is_decoded_for_login(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"WIDGET_MAIL_URL": "smtp://actions%40example.org:secret@mail.example.org:587"},
        instance_path=tmp_path,
    )

    assert settings.mail.username == "actions@example.org"


def test_smtps_without_a_port_uses_465() -> None:
    mail = parse_mail_url("smtps://mail.example.org")

    assert (mail.scheme, mail.host, mail.port) == ("smtps", "mail.example.org", 465)
    assert (mail.username, mail.password, mail.starttls) == (None, None, False)


def test_smtp_without_a_port_uses_25() -> None:
    mail = parse_mail_url("smtp://mail.example.org")

    assert (mail.scheme, mail.host, mail.port) == ("smtp", "mail.example.org", 25)


def test_the_public_url_loses_its_trailing_slash(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"WIDGET_PUBLIC_URL": "https://actions.example.org/"}, instance_path=tmp_path
    )

    assert settings.public_url == "https://actions.example.org"


def test_the_app_gets_rotated_out_keys_as_a_list_of_fallbacks(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "WIDGET_SECRET_KEY": f"{NEW_KEY},{OLD_KEY}",
            "WIDGET_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
            "WIDGET_PUBLIC_URL": "https://actions.example.org",
        },
        instance_path=tmp_path,
    )
    app = create_app(settings)

    assert app.config["SECRET_KEY"] == NEW_KEY
    assert app.config["SECRET_KEY_FALLBACKS"] == [OLD_KEY]
    db.engine(app).dispose()


def test_an_app_with_one_key_has_no_fallbacks(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "WIDGET_SECRET_KEY": NEW_KEY,
            "WIDGET_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
            "WIDGET_PUBLIC_URL": "https://actions.example.org",
        },
        instance_path=tmp_path,
    )
    app = create_app(settings)

    assert app.config["SECRET_KEY_FALLBACKS"] == []
    db.engine(app).dispose()


def test_a_superscript_digit_for_trusted_proxies_is_refused_naming_the_variable(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigurationError, match=r"^WIDGET_TRUSTED_PROXIES="):
        Settings.from_env({"WIDGET_TRUSTED_PROXIES": "²"}, instance_path=tmp_path)


def test_outside_debug_the_app_refuses_to_start_without_a_public_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    settings = Settings.from_env(
        {"WIDGET_SECRET_KEY": NEW_KEY, "WIDGET_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"},
        instance_path=tmp_path,
    )

    with pytest.raises(ConfigurationError, match=r"^WIDGET_PUBLIC_URL is not set\."):
        create_app(settings)


def test_in_debug_without_a_public_url_links_point_to_the_local_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_DEBUG", "1")
    settings = Settings.from_env(
        {"WIDGET_SECRET_KEY": NEW_KEY, "WIDGET_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"},
        instance_path=tmp_path,
    )
    app = create_app(settings)

    assert app.extensions["widget"].settings.public_url == "http://127.0.0.1:5000"
    db.engine(app).dispose()


def test_in_debug_with_smtp_mail_the_public_url_is_still_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real mail with links to 127.0.0.1 would reach no one: debug alone is no excuse."""
    monkeypatch.setenv("FLASK_DEBUG", "1")
    settings = Settings.from_env(
        {
            "WIDGET_SECRET_KEY": NEW_KEY,
            "WIDGET_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
            "WIDGET_MAIL_URL": "smtp://mail.example:587",
        },
        instance_path=tmp_path,
    )

    with pytest.raises(ConfigurationError, match=r"^WIDGET_PUBLIC_URL is not set\."):
        create_app(settings)


# --- the organisation ---------------------------------------------------------------------------


def test_the_organisation_settings_are_optional(tmp_path: Path) -> None:
    settings = Settings.from_env({}, instance_path=tmp_path)
    assert (settings.org_name, settings.org_url, settings.privacy_contact) == (None, None, None)


def test_the_organisation_settings_are_read(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "WIDGET_ORG_NAME": "  Amnesty International Pakistan  ",
            "WIDGET_ORG_URL": "https://www.example.org/pk",
            "WIDGET_PRIVACY_CONTACT": "Privacy@Example.ORG",
        },
        instance_path=tmp_path,
    )
    assert settings.org_name == "Amnesty International Pakistan"
    assert settings.org_url == "https://www.example.org/pk"
    assert settings.privacy_contact == "Privacy@example.org"  # the domain is case-insensitive


def test_an_organisation_name_in_urdu_of_200_characters_is_kept(tmp_path: Path) -> None:
    """Persian, Urdu and Pashto names keep their zero-width non-joiner (not a control)."""
    words = "ایمنسٹی\u200cانٹرنیشنل "  # noqa: RUF001 (a joiner is spelling)
    name = (words * 20)[:200]
    settings = Settings.from_env({"WIDGET_ORG_NAME": name}, instance_path=tmp_path)
    assert settings.org_name == name


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WIDGET_ORG_NAME", "A" * 201),
        ("WIDGET_ORG_NAME", "Amnesty\nBcc: x@example.org"),
        ("WIDGET_ORG_NAME", "Amnesty\u2028International"),
        ("WIDGET_ORG_NAME", "Amnesty\x00"),
        ("WIDGET_ORG_NAME", "Amnesty \u202egro.kcabpleh"),  # reads as another's name
        ("WIDGET_ORG_NAME", "\u2067Amnesty\u2069"),
        ("WIDGET_MAIL_FROM", "Amnesty <>"),
        ("WIDGET_MAIL_FROM", "Amnesty"),
        ("WIDGET_ORG_URL", "www.example.org"),
        ("WIDGET_ORG_URL", "javascript:alert(1)"),
        ("WIDGET_ORG_URL", "ftp://example.org"),
        ("WIDGET_ORG_URL", "https://"),
        ("WIDGET_ORG_URL", "https://example.org/a b"),
        ("WIDGET_ORG_URL", "https://[::1"),
        ("WIDGET_ORG_URL", "https://example.org/" + "a" * 2000),
        ("WIDGET_PRIVACY_CONTACT", "privacy"),
        ("WIDGET_PRIVACY_CONTACT", "mailto:privacy@example.org"),
        ("WIDGET_PRIVACY_CONTACT", "Privacy <privacy@example.org>"),
        ("WIDGET_PRIVACY_CONTACT", "a@example.org, b@example.org"),
        ("WIDGET_PRIVACY_CONTACT", "privacy@example.org\r\nBcc: x@example.org"),
        ("WIDGET_PRIVACY_CONTACT", "privacy@@example.org"),
    ],
)
def test_a_malformed_organisation_setting_is_refused_naming_it(
    tmp_path: Path, name: str, value: str
) -> None:
    with pytest.raises(ConfigurationError, match=f"^{name}[=:]"):
        Settings.from_env({name: value}, instance_path=tmp_path)
