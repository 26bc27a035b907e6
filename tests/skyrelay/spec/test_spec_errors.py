"""Bad specs: every problem is reported at once, each with file, line, field path and message.

Each fixture under fixtures/bad/ states what it must produce in header lines of the form
``# expect: LINE | PATH | TEXT``; the test requires exactly those problems, no more.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from skyrelay.spec import SpecError, load_spec

BAD = Path(__file__).parent / "fixtures" / "bad"


def _expectations(path: Path) -> list[tuple[int, str, str]]:
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("# expect:"):
            lineno, field, text = (p.strip() for p in line[len("# expect:"):].split("|", 2))
            out.append((int(lineno), field, text))
    return out


@pytest.mark.parametrize("fixture", sorted(BAD.glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_spec_reports_each_expected_problem(fixture: Path) -> None:
    expected = _expectations(fixture)
    assert expected, f"{fixture.name} has no '# expect:' header"
    with pytest.raises(SpecError) as info:
        load_spec(fixture)
    issues = info.value.issues
    assert len(issues) == len(expected), "\n".join(map(str, issues))
    for (lineno, field, text), issue in zip(sorted(expected), issues, strict=True):
        assert issue.file == str(fixture)
        assert (issue.line, issue.dotted) == (lineno, field), str(issue)
        assert text in issue.message, str(issue)
        assert str(issue).startswith(f"{fixture}:{lineno}: {field}: ")


def test_plaintext_key_is_never_echoed() -> None:
    with pytest.raises(SpecError) as info:
        load_spec(BAD / "unknown_key_and_types.yaml")
    assert "sk-live-1234567890" not in str(info.value)


def test_unreadable_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "absent.yaml")
    assert "cannot read spec" in str(info.value)


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i-1}'] * 10)}]" for i in range(1, 8)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    with pytest.raises(SpecError) as info:
        load_spec(bomb)
    assert "expands to more than" in str(info.value)


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "loop.yaml"
    spec.write_text("name: &a [*a]\n")
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    assert "recursive" in str(info.value) or "not valid YAML" in str(info.value)
