"""The settings: every path and every default of Mellanrum, in one typed object.

Read from the environment (and command-line options, which override it):

| setting | environment | default |
| --- | --- | --- |
| home | MELLANRUM_HOME | ~/.mellanrum |
| sources | MELLANRUM_SOURCES | <home>/inbox/sources.yaml |
| recipients | MELLANRUM_RECIPIENTS | recipients.yaml beside the sources file |
| keyring | MELLANRUM_KEYRING | <home>/keyring.json |
| database_url | MELLANRUM_DATABASE_URL | sqlite:///<home>/published.sqlite |
| dagster_home | DAGSTER_HOME | <home>/dagster |
| look_back_days, look_ahead_days | MELLANRUM_LOOK_BACK_DAYS, …_AHEAD_DAYS | 90, 180 |
| suppression_threshold | MELLANRUM_SUPPRESSION_THRESHOLD | 5 |
| max_quarantine_share | MELLANRUM_MAX_QUARANTINE_SHARE | 0.05 (a source may set its own) |
| max_delivery_age_days | MELLANRUM_MAX_DELIVERY_AGE_DAYS | 7 (a source may set its own) |

Secrets are never settings values: the keyring's passphrase is read from
MELLANRUM_KEYRING_PASSPHRASE where it is needed (Dagster gets it as an `EnvVar`), and a
database URL from the environment reaches Dagster as an `EnvVar` too, since Dagster shows a
resource's plain values in its UI. The storage layout below the home is defined here only.
"""

from __future__ import annotations

import os
from pathlib import Path

import pydantic
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.keys.passphrase import KEYRING_PASSPHRASE_ENV, missing_passphrase
from schemas.errors import ConfigError, KeyringError

PASSPHRASE_ENV = KEYRING_PASSPHRASE_ENV
DATABASE_URL_ENV = "MELLANRUM_DATABASE_URL"
DAGSTER_HOME_ENV = "DAGSTER_HOME"
_ENV_PREFIX = "MELLANRUM_"


class Settings(BaseSettings):
    """Where everything is, and the defaults a run uses when nothing else is said."""

    model_config = SettingsConfigDict(env_prefix=_ENV_PREFIX, frozen=True, extra="forbid", populate_by_name=True)

    home: Path = pydantic.Field(default_factory=lambda: Path.home() / ".mellanrum",
                                description="Mellanrum's own folder: keyring, datasets, Dagster instance")  # fmt: skip
    sources: Path | None = pydantic.Field(default=None, description="The sources file (its folder is the inbox)")
    recipients: Path | None = pydantic.Field(default=None, description="The recipients file")
    keyring: Path | None = pydantic.Field(default=None, description="The encrypted keyring")
    database_url: pydantic.SecretStr | None = pydantic.Field(
        default=None, description="SQLAlchemy URL of the publication database (may hold a password)"
    )
    dagster_home: Path | None = pydantic.Field(default=None, validation_alias=DAGSTER_HOME_ENV,
                                               description="The Dagster instance's folder")  # fmt: skip
    look_back_days: int = pydantic.Field(default=90, ge=0, description="Reporting window: days before the as-of date")
    look_ahead_days: int = pydantic.Field(default=180, ge=0, description="Reporting window: days after it")
    suppression_threshold: int = pydantic.Field(default=5, ge=2, description="Published counts below this are suppressed")
    max_quarantine_share: float = pydantic.Field(
        default=0.05, ge=0, le=1, description="Share of a delivery's rows that may go to quarantine before a warning"
    )
    max_delivery_age_days: int = pydantic.Field(
        default=7, ge=1, description="Days the newest delivered file may be old on the as-of date before a warning"
    )

    # --- construction -----------------------------------------------------------------

    @classmethod
    def load(cls, **overrides: object) -> Settings:
        """The environment's settings with `overrides` (command-line options; None: not given)."""
        given = {name: value for name, value in overrides.items() if value is not None}
        try:
            return cls(**given)
        except pydantic.ValidationError as problem:
            raise ConfigError(_describe(problem)) from None

    @classmethod
    def of(cls, **values: object) -> Settings:
        """Settings from `values` alone, ignoring the environment (tests, benchmarks)."""
        try:
            return _WithoutEnvironment(**values)
        except pydantic.ValidationError as problem:
            raise ConfigError(_describe(problem)) from None

    def but(self, **changes: object) -> Settings:
        """A copy with `changes` applied and validated (None: unchanged)."""
        values = {**self.model_dump(), **{k: v for k, v in changes.items() if v is not None}}
        try:
            return type(self)(**values)
        except pydantic.ValidationError as problem:
            raise ConfigError(_describe(problem)) from None

    # --- paths ------------------------------------------------------------------------

    @property
    def sources_file(self) -> Path:
        return self.sources or self.home / "inbox" / "sources.yaml"

    @property
    def inbox(self) -> Path:
        """The folder deliveries arrive in: the sources file's folder."""
        return self.sources_file.parent

    @property
    def recipients_file(self) -> Path:
        return self.recipients or self.sources_file.parent / "recipients.yaml"

    @property
    def keyring_file(self) -> Path:
        return self.keyring or self.home / "keyring.json"

    @property
    def storage(self) -> Path:
        """Our datasets (`core.store.DatasetFiles`)."""
        return self.home / "storage"

    @property
    def dagster_dir(self) -> Path:
        return self.dagster_home or self.home / "dagster"

    @property
    def embedded_database_url(self) -> str:
        return f"sqlite:///{self.home / 'published.sqlite'}"

    @property
    def private_database_url(self) -> str:
        """Where the internal tables go when the publication database is SQLite: a private
        file, apart from the published one (on PostgreSQL they are its `internal` schema)."""
        return f"sqlite:///{self.home / 'private.sqlite'}"

    @property
    def database_from_environment(self) -> bool:
        """Whether the publication database is named by MELLANRUM_DATABASE_URL (a secret)."""
        return self.database_url is not None and os.environ.get(DATABASE_URL_ENV) == self.database_url.get_secret_value()

    def publication_database_url(self) -> str:
        """The URL, secret included: for the engine only, never for display."""
        return self.database_url.get_secret_value() if self.database_url else self.embedded_database_url

    # --- secrets ----------------------------------------------------------------------

    @staticmethod
    def secret_from_environment(variable: str = PASSPHRASE_ENV) -> str:
        """A passphrase from the environment: it is never read from a file or an option."""
        value = os.environ.get(variable)
        if not value:
            raise KeyringError(missing_passphrase(variable))
        return value


class _WithoutEnvironment(Settings):
    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):  # fmt: skip
        return (init_settings,)


def _describe(problem: pydantic.ValidationError) -> str:
    """Which setting is wrong and why, by its environment variable's name."""
    lines = []
    for item in problem.errors(include_url=False):
        name = str(item["loc"][0]) if item["loc"] else "settings"
        variable = DAGSTER_HOME_ENV if name in ("dagster_home", DAGSTER_HOME_ENV) else _ENV_PREFIX + name.upper()
        value = item.get("input")
        shown = f"got {value!r}: " if isinstance(value, (str, int, float)) and name != "database_url" else ""
        lines.append(f"{variable} ({name}): {shown}{item['msg'].removeprefix('Value error, ')}")
    return "settings: " + "; ".join(lines)
