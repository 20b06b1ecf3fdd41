"""The recipients file: who receives published datasets, declared once.

A recipient is a municipality (kind `kommun`, by its kommunkod), an AF office (kind
`af_office`, by the office's name as AF's deliveries spell it) or the regional federation
(kind `region`, which receives statistics only). Each gets the datasets whose contract
names its kind (`mellanrum contracts`), and of those only its own rows. A recipient
without database access registers a public key to receive encrypted exports
(`mellanrum recipient-key new` prints one).

Example (the generator writes one for the demo):

    version: 1
    recipients:
      - id: kommun_1480
        kind: kommun
        kommunkod: "1480"
        public_key: mellanrum-x25519:…      # optional: for `mellanrum export`
      - id: af_goteborg_city
        kind: af_office
        af_office: Arbetsförmedlingen Göteborg City
      - id: region_gr
        kind: region
        kommuner: ["1480", "1481", "1401"]   # optional: its municipalities (default: all)
        groupings:                           # optional: named groups of them
          norr: ["1401"]

A region recipient with `kommuner` reads only those municipalities' statistics rows (a
region total row, which adds up every municipality, is not among them): by filtering in
SQLite reads and exports, by row-level security on PostgreSQL, as for the other roles.

In PostgreSQL each recipient is a database role named `mellanrum_<id>`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import pydantic
import yaml

from schemas.errors import ConfigError
from schemas.municipalities import KOMMUNKOD_PATTERN, municipality_names
from schemas.yamlconfig import StrictModel, load_yaml_model, parse_yaml_model

RecipientKind = Literal["kommun", "af_office", "region"]
ROLE_PREFIX = "mellanrum_"
PUBLIC_KEY_PATTERN = r"^mellanrum-x25519:[A-Za-z0-9_-]{43}$"


class Recipient(StrictModel):
    # Lower-case letters, digits and _: the id is also part of a PostgreSQL role name.
    id: str = pydantic.Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    kind: RecipientKind
    kommunkod: str | None = pydantic.Field(default=None, pattern=KOMMUNKOD_PATTERN)
    af_office: str | None = pydantic.Field(default=None, min_length=1, max_length=100)
    public_key: str | None = pydantic.Field(default=None, pattern=PUBLIC_KEY_PATTERN)
    description: str = ""
    # A region's municipalities (None: every one) and named groupings of them.
    kommuner: list[str] | None = None
    groupings: dict[str, list[str]] = {}

    @pydantic.model_validator(mode="after")
    def _region_scope(self) -> Recipient:
        if self.kind != "region" and (self.kommuner is not None or self.groupings):
            raise ValueError(f"only a region recipient has kommuner and groupings, not a {self.kind} recipient")
        for code in self.kommuner or ():
            if code not in municipality_names():
                raise ValueError(f"kommuner: {code!r} is not one of Sweden's 290 municipalities")
        for name, codes in self.groupings.items():
            outside = sorted(set(codes) - set(self.kommuner or municipality_names()))
            if outside:
                raise ValueError(f"groupings.{name}: {', '.join(outside)} not among the region's kommuner")
        return self

    @property
    def region_kommuner(self) -> tuple[str, ...] | None:
        """A region's municipalities, whose statistics rows it reads; None: every row."""
        return tuple(self.kommuner) if self.kind == "region" and self.kommuner is not None else None

    @pydantic.model_validator(mode="after")
    def _scope_fits_the_kind(self) -> Recipient:
        if self.kind == "kommun":
            if self.kommunkod is None:
                raise ValueError("a kommun recipient needs its kommunkod")
            if self.kommunkod not in municipality_names():
                raise ValueError(f"kommunkod {self.kommunkod!r} is not one of Sweden's 290 municipalities")
        elif self.kommunkod is not None:
            raise ValueError(f"only a kommun recipient has a kommunkod, not a {self.kind} recipient")
        if self.kind == "af_office" and self.af_office is None:
            raise ValueError("an af_office recipient needs the office's name (af_office)")
        if self.kind != "af_office" and self.af_office is not None:
            raise ValueError(f"only an af_office recipient has af_office, not a {self.kind} recipient")
        return self

    @property
    def role(self) -> str:
        return ROLE_PREFIX + self.id

    @property
    def scope(self) -> str | None:
        """The value that marks this recipient's rows (kommunkod or office); None: every row."""
        return self.kommunkod if self.kind == "kommun" else self.af_office if self.kind == "af_office" else None


class RecipientsFile(StrictModel):
    version: Literal[1]
    recipients: list[Recipient] = pydantic.Field(min_length=1)

    @pydantic.model_validator(mode="after")
    def _each_recipient_once(self) -> RecipientsFile:
        for attribute in ("id", "scope"):
            seen: dict = {}
            for index, recipient in enumerate(self.recipients):
                value = getattr(recipient, attribute)
                if value is None:
                    continue
                if value in seen:
                    raise ValueError(
                        f"recipients[{index}] (id {recipient.id!r}): {attribute} {value!r} is already "
                        f"recipients[{seen[value]}]'s: each recipient and each scope is declared once"
                    )
                seen[value] = index
        return self


class Recipients:
    """The validated recipients file."""

    def __init__(self, path: Path, spec: RecipientsFile) -> None:
        self.path = path
        self.all = tuple(spec.recipients)

    def of_kind(self, kind: str) -> tuple[Recipient, ...]:
        return tuple(r for r in self.all if r.kind == kind)

    def get(self, recipient_id: str) -> Recipient:
        for recipient in self.all:
            if recipient.id == recipient_id:
                return recipient
        known = ", ".join(r.id for r in self.all)
        raise ConfigError(f"{self.path}: no recipient with id {recipient_id!r} (declared: {known})")


def load_recipients(path: Path) -> Recipients:
    path = Path(path)
    return Recipients(path, load_yaml_model(path, RecipientsFile))


def with_public_key(text: str, path: Path, recipient_id: str, public_key: str) -> str:
    """`text` (a recipients file) with `public_key: <public_key>` in the entry of
    `recipient_id`: the value replaced if the entry has one, else a line added at the end of
    the entry. Only those characters change, so comments and layout stay; the result is
    validated. An entry written in flow style (`{...}`) is refused: edit it by hand."""
    if not re.fullmatch(PUBLIC_KEY_PATTERN, public_key):
        raise ConfigError("public key: expected one line 'mellanrum-x25519:' + 43 characters "
                          "(what `mellanrum recipient-key new` prints)")  # fmt: skip
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        raise ConfigError(f"{path}: not valid YAML; fix it first (load it with any `mellanrum` command)") from None
    entry = _entry_node(root, recipient_id)
    if entry is None:
        load_yaml_text(text, path).get(recipient_id)  # names the file's problem, or the declared ids
        raise ConfigError(f"{path}: no recipient with id {recipient_id!r}")
    if entry.flow_style:
        raise ConfigError(f"{path}: recipient {recipient_id!r} is written in flow style ({{...}}): add "
                          f"`public_key: {public_key}` to it by hand")  # fmt: skip
    values = dict((key.value, value) for key, value in entry.value)
    if "public_key" in values:
        old = values["public_key"]
        edited = text[: old.start_mark.index] + public_key + text[old.end_mark.index :]
    else:
        line = f"{' ' * entry.value[0][0].start_mark.column}public_key: {public_key}"
        end = entry.value[-1][1].end_mark
        if end.column == 0:  # a block scalar ends at the start of the next line
            edited = text[: end.index] + line + "\n" + text[end.index :]
        else:
            line_end = text.find("\n", end.index)
            line_end = len(text) if line_end < 0 else line_end
            edited = text[:line_end] + "\n" + line + text[line_end:]
    if load_yaml_text(edited, path).get(recipient_id).public_key != public_key:
        raise ConfigError(f"{path}: could not place public_key in recipient {recipient_id!r}; add it by hand")
    return edited


def _entry_node(root: yaml.Node | None, recipient_id: str) -> yaml.MappingNode | None:
    if not isinstance(root, yaml.MappingNode):
        return None
    for key, value in root.value:
        if key.value == "recipients" and isinstance(value, yaml.SequenceNode):
            for item in value.value:
                if isinstance(item, yaml.MappingNode) and any(
                    k.value == "id" and getattr(v, "value", None) == recipient_id for k, v in item.value
                ):
                    return item
    return None


def load_yaml_text(text: str, path: Path) -> Recipients:
    """A recipients file's text, validated as if read from `path`."""
    return Recipients(Path(path), parse_yaml_model(path, text.encode("utf-8"), RecipientsFile))
