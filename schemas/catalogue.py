"""The code catalogue: municipal intervention types (insatser) and AF programmes.

Sources map their local codes onto catalogue codes; the catalogue gives each code a
category, which is what the rule table and the published datasets speak of. The file is
versioned YAML (`schemas/config/catalogue.yaml`); its version is recorded with every run.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pydantic

from schemas.yamlconfig import StrictModel, load_yaml_model

DEFAULT_CATALOGUE = Path(__file__).parent / "config" / "catalogue.yaml"

_CODE = pydantic.constr(pattern=r"^[A-Z][A-Z0-9_]*$", max_length=40)
_CATEGORY = pydantic.constr(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)


class CatalogueEntry(StrictModel):
    code: _CODE
    name: str
    category: _CATEGORY


class Catalogue(StrictModel):
    version: str
    municipal_categories: dict[_CATEGORY, str]
    municipal_interventions: list[CatalogueEntry]
    af_categories: dict[_CATEGORY, str]
    af_programmes: list[CatalogueEntry]

    @pydantic.model_validator(mode="after")
    def _codes_unique_and_categories_declared(self) -> "Catalogue":
        for entries, categories, label in (
            (self.municipal_interventions, self.municipal_categories, "municipal_categories"),
            (self.af_programmes, self.af_categories, "af_categories"),
        ):
            seen: set[str] = set()
            for entry in entries:
                if entry.code in seen:
                    raise ValueError(f"code {entry.code!r} is declared twice")
                seen.add(entry.code)
                if entry.category not in categories:
                    raise ValueError(
                        f"code {entry.code!r} has category {entry.category!r}, "
                        f"which is not declared under {label}"
                    )
        return self

    @property
    def intervention_categories(self) -> dict[str, str]:
        """Municipal intervention code → category."""
        return {entry.code: entry.category for entry in self.municipal_interventions}

    @property
    def programme_categories(self) -> dict[str, str]:
        """AF programme code → category."""
        return {entry.code: entry.category for entry in self.af_programmes}


def load_catalogue(path: Path = DEFAULT_CATALOGUE) -> Catalogue:
    return load_yaml_model(path, Catalogue)


@cache
def default_catalogue() -> Catalogue:
    return load_catalogue(DEFAULT_CATALOGUE)
