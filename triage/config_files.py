"""The editable YAML files (taxonomy, routing, emergency rules, gazetteer, lexicon): read strictly, with
errors that name the file and the place.

A city edits these by hand, without retraining, so a mistake must stop loading with a message a person
can act on, never load silently wrong (a pattern written as a string instead of a list would match
letter by letter; a duplicated rule id would silently replace the first rule; a misspelt authority
would leave every message it routes without a recipient). Shapes are checked with pydantic; names
that must agree across files are checked by :func:`cross_check`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from triage.errors import TriageError


class ConfigError(TriageError, ValueError):
    """An editable configuration file is unreadable, malformed or inconsistent with the others."""

    code = "config_error"


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Patterns = Annotated[list[Text], Field(min_length=1)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")  # version, descriptions, contacts: for the people editing


class RuleSpec(BaseModel):
    # Closed: a misspelt "authorty" would otherwise leave a rule silently without its authority.
    model_config = ConfigDict(extra="forbid")
    urgency: str | None = None
    authority: str | None = None
    patterns: Patterns
    description: Any = None
    examples: Any = None
    notes: Any = None


class RulesFile(_Open):
    negations: dict[str, list[Text]] | None = None  # empty (every entry commented out): none
    harmless: list[Text] | None = None  # phrases whose words are no emergency ("fire drill")
    rules: Annotated[dict[str, RuleSpec], Field(min_length=1)]


class GazetteerFile(_Open):
    districts: dict[str, Patterns]


class LexiconFile(_Open):
    concepts: dict[str, Patterns]


class LocalRecipient(_Open):
    name: dict[str, Text]
    channel: Text


class RecipientSpec(_Open):
    name: dict[str, Text]
    channel: Text
    districts: dict[str, LocalRecipient] | None = None


class RoutingFile(_Open):
    recipients: Annotated[dict[str, RecipientSpec], Field(min_length=1)]
    # urgency label -> authority: a message whose final urgency is that label goes there, whatever
    # the authority head says (critical -> emergency_service).
    urgency_routes: dict[str, str] | None = None  # empty (every entry commented out): none


class TopicSpec(_Open):
    default_authority: str | None = None
    names: dict[str, Text] | None = None


class LabelSpec(_Open):
    names: dict[str, Text] | None = None


class TaxonomyFile(_Open):
    # An entry may be empty ("other:"); names of authorities and districts are per language, next to
    # any description a city adds.
    topics: Annotated[dict[str, TopicSpec | None], Field(min_length=1)]
    authorities: dict[str, dict[str, Any] | None]
    urgency: dict[str, LabelSpec | None]
    districts: dict[str, dict[str, Any] | None]
    languages: list[str] = ["kk", "ru", "en"]
    channels: list[str] = []


M = TypeVar("M", bound=BaseModel)


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; here a repeated key is an error."""


def _mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # "<<: *defaults": merged keys may be overridden, that is what merging is for
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"{key!r} appears twice (lines {seen[key]} and {key_node.start_mark.line + 1}); "
                            "the second would silently replace the first", key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_yaml(path: Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).replace('<unicode string>', path.name)}") from None


def load_config(path: Path, model: type[M]) -> M:
    """``path`` read and validated as ``model``; a :class:`ConfigError` naming every problem."""
    return _validated(path, read_yaml(path), model)


def checked_yaml(path: Path, model: type[BaseModel]) -> Any:
    """``path``'s plain data (descriptions and extra keys as written), after validating it as ``model``."""
    data = read_yaml(path)
    _validated(path, data, model)
    return data


def _validated(path: Path, data: Any, model: type[M]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}" for e in exc.errors()[:10])
        raise ConfigError(f"{path}: {problems}") from None


def cross_check(taxonomy, routing, rules, districts, paths: dict[str, Path]) -> None:
    """Names that must agree across the files: every authority a rule, a topic default or the routing
    table names is an authority of the taxonomy and has a recipient; every district in the gazetteer
    and the routing table is a district of the taxonomy. Raises one :class:`ConfigError` listing all."""
    authorities, known_districts = set(taxonomy.authorities), set(taxonomy.districts)
    recipients = set(routing.recipients)
    problems = []
    for rid, rule in rules.rules.items():
        if rule.authority is not None and rule.authority not in recipients:
            problems.append(f"{paths['rules']}: rule {rid!r} sets authority {rule.authority!r}, which "
                            f"{paths['routing']} has no recipient for")
    for topic, spec in taxonomy.topics.items():
        a = (spec or {}).get("default_authority")  # noqa: SIM910 - an entry may be empty (None)
        if a is not None and a not in authorities:
            problems.append(f"{paths['taxonomy']}: topic {topic!r} has default_authority {a!r}, not an authority")
        elif a is not None and a not in recipients:
            problems.append(f"{paths['routing']}: no recipient for {a!r} (the default authority of topic {topic!r})")
    for a, entry in routing.recipients.items():
        if a not in authorities:
            problems.append(f"{paths['routing']}: recipient {a!r} is not an authority of {paths['taxonomy']}")
        for d in (entry or {}).get("districts") or {}:
            if d not in known_districts:
                problems.append(f"{paths['routing']}: {a!r} has a recipient for district {d!r}, not a district "
                                f"of {paths['taxonomy']} ({', '.join(sorted(known_districts))})")
    for level, a in (routing.urgency_routes or {}).items():
        if level not in taxonomy.urgency:
            problems.append(f"{paths['routing']}: urgency_routes names {level!r}, not an urgency level of "
                            f"{paths['taxonomy']} ({', '.join(taxonomy.urgency)})")
        if a not in recipients:
            problems.append(f"{paths['routing']}: urgency_routes sends {level!r} to {a!r}, which has no recipient")
    for d in sorted(set(districts.matcher._label_of.values())):
        if d not in known_districts:
            problems.append(f"{paths['gazetteer']}: district {d!r} is not a district of {paths['taxonomy']}")
    if problems:
        raise ConfigError("; ".join(problems))
