"""Load a platform spec from YAML, keeping the line of every value for error messages.

Any input yields either a :class:`~skyrelay.spec.models.Spec` or a :class:`SpecError` that
lists every problem found, each with file, line, field path and what was expected.

Example::

    from skyrelay.spec import SpecError, load_spec
    try:
        spec = load_spec("examples/platform.yaml")
    except SpecError as err:
        print(err)          # one "file:line: path: message" per problem
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from skyrelay.spec.catalog_checks import catalog_problems
from skyrelay.spec.checks import cross_checks
from skyrelay.spec.models import Spec

Path_ = tuple[str | int, ...]

#: Guards against alias bombs ("billion laughs") and absurd documents.
MAX_NODES = 200_000
MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a spec: where it is and what was expected."""

    file: str
    line: int | None
    path: Path_
    message: str

    @property
    def dotted(self) -> str:
        """The field path as ``routes[0].targets[1].region``."""
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out or "<document>"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.dotted}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for ``--json`` output."""
        return {"file": self.file, "line": self.line, "path": self.dotted, "message": self.message}


class SpecError(Exception):
    """The spec is invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: Sequence[SpecIssue]):
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


# libyaml's parser composes the same node tree (with the same line marks) about ten times
# faster than the pure-Python one; PyYAML ships it in its wheels for the common platforms.
_SafeBase: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeBase):  # type: ignore[valid-type,misc]
    """SafeLoader that keeps dates as strings (``version: 2024-11-20`` is a model version)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _Walker:
    """Turns a composed YAML node tree into plain data and records each path's line."""

    def __init__(self, loader: _Loader, file: str):
        self.loader = loader
        self.file = file
        self.lines: dict[Path_, int] = {}
        self.issues: list[SpecIssue] = []
        self.count = 0
        self.active: set[int] = set()

    def walk(self, node: yaml.Node, path: Path_) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig
        self.lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in self.active:
            self.issues.append(self._issue(node, path, "recursive YAML alias is not allowed"))
            return None
        if isinstance(node, yaml.MappingNode):
            self.active.add(id(node))
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | float | bool) or key is None:
                    self.issues.append(
                        self._issue(key_node, path, "mapping keys must be plain text"))
                    continue
                key = str(key) if not isinstance(key, str) else key
                if key == "<<":
                    self.issues.append(
                        self._issue(key_node, path, "YAML merge keys are not supported"))
                    continue
                if key in out:
                    self.issues.append(self._issue(key_node, (*path, key), "duplicate key"))
                    continue
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                out[key] = self.walk(value_node, (*path, key))
            self.active.discard(id(node))
            return out
        if isinstance(node, yaml.SequenceNode):
            self.active.add(id(node))
            items = [self.walk(child, (*path, i)) for i, child in enumerate(node.value)]
            self.active.discard(id(node))
            return items
        return self.loader.construct_object(node, deep=True)

    def _issue(self, node: yaml.Node, path: Path_, message: str) -> SpecIssue:
        return SpecIssue(self.file, node.start_mark.line + 1, path, message)


class _TooBig(Exception):
    pass


def _line_for(lines: dict[Path_, int], loc: Sequence[str | int]) -> tuple[Path_, int | None]:
    """Map a pydantic error location onto the document: the deepest known path and its line.

    pydantic inserts union tags (``bedrock``) and validator names into locations; parts that
    are not in the document are skipped.
    """
    path: Path_ = ()
    for part in loc:
        candidate = (*path, part)
        if candidate in lines:
            path = candidate
    return path, lines.get(path)


def _expected(err: ErrorDetails) -> str:
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if err["type"] == "extra_forbidden":
        return "unknown key (check the spelling; see the spec reference in README.md)"
    if err["type"] == "missing":
        return "required field is missing"
    if err["type"] == "union_tag_invalid":
        return "expected 'cloud' to be one of bedrock, azure, openai"
    if err["type"] == "string_pattern_mismatch":
        return f"does not have the expected form ({msg.split(': ', 1)[-1]})"
    return msg


def parse_spec_text(text: str | bytes, file: str = "<spec>", *,
                    warnings: list[SpecIssue] | None = None,
                    today: dt.date | None = None) -> Spec:
    """Parse and validate a spec from text; raise :class:`SpecError` listing every problem.

    Catalog findings that do not stop a deploy (a deprecated version, a model the catalog
    does not know) are appended to ``warnings`` when a list is given; ``today`` is the date
    lifecycle dates are judged on (default: the current date).
    """
    if len(text) > MAX_BYTES:
        raise SpecError([SpecIssue(file, None, (), f"spec is larger than {MAX_BYTES} bytes")])
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            walker = _Walker(loader, file)
            data = walker.walk(root, ()) if root is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        last_line = max(1, len(text.splitlines()))
        line = min(mark.line + 1, last_line) if mark else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise SpecError([SpecIssue(file, line, (), f"not valid YAML: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([SpecIssue(file, None, (), f"not valid YAML: {exc}")]) from None
    except _TooBig:
        raise SpecError(
            [SpecIssue(file, None, (), f"document expands to more than {MAX_NODES} values")]
        ) from None
    except RecursionError:
        raise SpecError([SpecIssue(file, None, (), "document is nested too deeply")]) from None

    if walker.issues:
        raise SpecError(walker.issues)
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        line = root.start_mark.line + 1 if root is not None else 1
        raise SpecError([SpecIssue(file, line, (), f"expected a mapping of sections, got {kind}")])

    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        issues = []
        for err in exc.errors(include_url=False):
            path, line = _line_for(walker.lines, err["loc"])
            if err["type"] == "missing" and err["loc"] and isinstance(err["loc"][-1], str):
                path = (*path, err["loc"][-1])
            issues.append(SpecIssue(file, line, path, _expected(err)))
        raise SpecError(_tidy(issues, exc)) from None
    except RecursionError:
        raise SpecError([SpecIssue(file, None, (), "document is nested too deeply")]) from None

    def located(found: list[tuple[Path_, str]]) -> list[SpecIssue]:
        issues = [SpecIssue(file, _line_for(walker.lines, p)[1], p, msg) for p, msg in found]
        return sorted(issues, key=lambda i: (i.line or 0, i.dotted))

    catalog_errors, catalog_warnings = catalog_problems(spec, today)
    problems = cross_checks(spec) + catalog_errors
    if warnings is not None:
        warnings.extend(located(catalog_warnings))
    if problems:
        raise SpecError(located(problems))
    return spec


def _tidy(issues: list[SpecIssue], exc: ValidationError) -> list[SpecIssue]:
    """Drop duplicates and the noise pydantic adds on top of a real error.

    A list whose only item failed is also reported as "too short": that echo is dropped when
    another problem sits inside the same list.
    """
    types = {id(i): e["type"] for i, e in zip(issues, exc.errors(include_url=False), strict=True)}
    seen: set[str] = set()
    out = []
    for issue in issues:
        if types[id(issue)] == "too_short" and any(
            other.path[: len(issue.path)] == issue.path and len(other.path) > len(issue.path)
            for other in issues
        ):
            continue
        if str(issue) not in seen:
            seen.add(str(issue))
            out.append(issue)
    return sorted(out, key=lambda i: (i.line or 0, i.dotted))


def load_spec(path: str | Path, *, warnings: list[SpecIssue] | None = None,
              today: dt.date | None = None) -> Spec:
    """Load and validate the spec at ``path``; raise :class:`SpecError` on any problem.

    ``warnings`` and ``today`` as for :func:`parse_spec_text`.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        issue = SpecIssue(str(p), None, (), f"cannot read spec: {exc.strerror}")
        raise SpecError([issue]) from None
    return parse_spec_text(data, str(p), warnings=warnings, today=today)
