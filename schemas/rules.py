"""The reconciliation rule table: how an overlap is classified, by category pair.

For every municipal category × AF category of the catalogue, one rule (with an id such as
`R05`) says whether an overlap of the two is a `conflict`, `parallel` (compatible, needs
samplanering) or `complementary` (no action). The extent rule applies on top of the
table: a combined extent above its limit makes any overlap a conflict. The file is
versioned YAML (`schemas/config/rules.yaml`), validated on load against the catalogue:
every category must exist there and every pair must have exactly one rule.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import pydantic

from schemas.catalogue import Catalogue, default_catalogue
from schemas.errors import ConfigError
from schemas.yamlconfig import StrictModel, load_yaml_model

DEFAULT_RULES = Path(__file__).parent / "config" / "rules.yaml"

CLASSES = ("conflict", "parallel", "complementary")
Classification = Literal["conflict", "parallel", "complementary"]

_RULE_ID = pydantic.constr(pattern=r"^[A-Z][A-Z0-9-]*$", max_length=20)
_CATEGORY = pydantic.constr(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)


class Rule(StrictModel):
    id: _RULE_ID
    municipal: _CATEGORY
    af: _CATEGORY
    classification: Classification = pydantic.Field(alias="class")
    rationale: pydantic.constr(min_length=1)


class ExtentRule(StrictModel):
    id: _RULE_ID
    above_pct: float = pydantic.Field(gt=0)
    rationale: pydantic.constr(min_length=1)


class RuleTable(StrictModel):
    version: str
    extent_rule: ExtentRule
    rules: list[Rule] = pydantic.Field(min_length=1)


def _check_against_catalogue(table: RuleTable, catalogue: Catalogue) -> list[str]:
    """Categories exist, ids are unique, and every category pair has exactly one rule."""
    problems = []
    first_with_id = {table.extent_rule.id: "extent_rule"}
    first_with_pair: dict[tuple[str, str], str] = {}
    for index, rule in enumerate(table.rules):
        where = f"rules[{index}] (id {rule.id!r})"
        if rule.id in first_with_id:
            problems.append(f"  {where}.id: got {rule.id!r}: already the id of {first_with_id[rule.id]}")
        first_with_id.setdefault(rule.id, where)
        known = True
        for side, declared, label in (
            ("municipal", catalogue.municipal_categories, "municipal_categories"),
            ("af", catalogue.af_categories, "af_categories"),
        ):
            value = getattr(rule, side)
            if value not in declared:
                known = False
                problems.append(
                    f"  {where}.{side}: got {value!r}: not declared under the catalogue's {label} "
                    f"(catalogue version {catalogue.version}: {', '.join(declared)})"
                )
        pair = (rule.municipal, rule.af)
        if known and pair in first_with_pair:
            problems.append(
                f"  {where}: got municipal {rule.municipal!r} × af {rule.af!r}: "
                f"that pair is already decided by {first_with_pair[pair]}"
            )
        first_with_pair.setdefault(pair, where)
    for municipal in catalogue.municipal_categories:
        for af in catalogue.af_categories:
            if (municipal, af) not in first_with_pair:
                problems.append(f"  rules: missing municipal {municipal!r} × af {af!r}: every pair needs one rule")
    return problems


def load_rules(path: Path = DEFAULT_RULES, catalogue: Catalogue | None = None) -> RuleTable:
    """Load and validate a rule table against `catalogue` (default: the shipped catalogue)."""
    path = Path(path)
    table = load_yaml_model(path, RuleTable)
    problems = _check_against_catalogue(table, catalogue or default_catalogue())
    if problems:
        raise ConfigError(f"{path}: {len(problems)} problem(s)\n" + "\n".join(problems))
    return table


@cache
def default_rules() -> RuleTable:
    return load_rules(DEFAULT_RULES)
