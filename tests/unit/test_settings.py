"""The one settings object: every path from the home, defaults, and errors naming the setting."""

from pathlib import Path

import pytest

from orchestration.settings import Settings
from schemas.errors import ConfigError, KeyringError


def test_every_path_follows_from_the_home(tmp_path):
    settings = Settings.of(home=tmp_path)
    assert settings.sources_file == tmp_path / "inbox" / "sources.yaml"
    assert settings.inbox == tmp_path / "inbox"
    assert settings.recipients_file == tmp_path / "inbox" / "recipients.yaml"
    assert settings.keyring_file == tmp_path / "keyring.json"
    assert settings.storage == tmp_path / "storage"
    assert settings.dagster_dir == tmp_path / "dagster"
    assert settings.publication_database_url() == f"sqlite:///{tmp_path / 'published.sqlite'}"


def test_a_sources_file_elsewhere_carries_the_recipients_file_with_it(tmp_path):
    settings = Settings.of(home=tmp_path, sources=tmp_path / "srv" / "sources.yaml")
    assert settings.recipients_file == tmp_path / "srv" / "recipients.yaml"


def test_the_environment_is_read_and_options_override_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MELLANRUM_HOME", str(tmp_path / "from-env"))
    monkeypatch.setenv("MELLANRUM_LOOK_BACK_DAYS", "30")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster-env"))
    settings = Settings.load()
    assert settings.home == tmp_path / "from-env" and settings.look_back_days == 30
    assert settings.dagster_dir == tmp_path / "dagster-env"
    assert Settings.load(home=tmp_path / "option").home == tmp_path / "option"
    assert Settings.load(home=None).home == tmp_path / "from-env"  # an option not given changes nothing


def test_settings_of_values_ignore_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MELLANRUM_LOOK_BACK_DAYS", "30")
    monkeypatch.setenv("MELLANRUM_DATABASE_URL", "postgresql://somewhere/else")
    settings = Settings.of(home=tmp_path)
    assert settings.look_back_days == 90
    assert settings.publication_database_url().startswith("sqlite:///")


@pytest.mark.parametrize(("variable", "value", "said"), [
    ("MELLANRUM_LOOK_BACK_DAYS", "ninety", "MELLANRUM_LOOK_BACK_DAYS (look_back_days): got 'ninety'"),
    ("MELLANRUM_SUPPRESSION_THRESHOLD", "1", "MELLANRUM_SUPPRESSION_THRESHOLD (suppression_threshold): got '1'"),
    ("MELLANRUM_MAX_QUARANTINE_SHARE", "2", "MELLANRUM_MAX_QUARANTINE_SHARE (max_quarantine_share): got '2'"),
])  # fmt: skip
def test_a_wrong_setting_is_named_with_its_problem(monkeypatch, variable, value, said):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=r"^settings: ") as raised:
        Settings.load()
    assert said in str(raised.value)


def test_a_database_url_is_never_shown_in_a_settings_error(monkeypatch):
    monkeypatch.setenv("MELLANRUM_DATABASE_URL", "postgresql://user:s3cret@db/x")
    monkeypatch.setenv("MELLANRUM_LOOK_AHEAD_DAYS", "-1")
    with pytest.raises(ConfigError) as raised:
        Settings.load()
    assert "s3cret" not in str(raised.value) and "look_ahead_days" in str(raised.value)
    assert "s3cret" not in repr(Settings.load(look_ahead_days=5))


def test_a_missing_passphrase_is_one_sentence_naming_the_variable(monkeypatch):
    monkeypatch.delenv("MELLANRUM_KEYRING_PASSPHRASE", raising=False)
    with pytest.raises(KeyringError, match="^set the passphrase in the environment variable MELLANRUM_KEYRING_PASSPHRASE"):
        Settings.secret_from_environment()


def test_changed_settings_stay_valid_or_name_the_setting(tmp_path):
    settings = Settings.of(home=tmp_path)
    assert settings.but(look_ahead_days=10).look_ahead_days == 10
    assert settings.but(home=Path("/elsewhere")).storage == Path("/elsewhere/storage")
    with pytest.raises(ConfigError, match="look_ahead_days"):
        settings.but(look_ahead_days=-5)
