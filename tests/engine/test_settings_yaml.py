"""The settings file is parsed by libyaml (engine/settings.py `_load_yaml`): it gives what
`yaml.safe_load` gives, and a file it refuses fails with PyYAML's own error text."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from engine.errors import ConfigError
from engine.settings import _load_yaml, load_settings
from tests.support.yaml_corpus import ROOT, YAML_FILES

CORPUS = YAML_FILES

BAD = [
    "data: [unclosed\n",
    "a: 1\n\tb: 2\n",
    "key\t: value\n",
    "a: 'unclosed\n",
    "a: 1\n- b\n",
    "a: !!python/object:os.system x\n",
    "a: !custom x\n",
    "a: *nowhere\n",
    "key: value\n  indented: wrong\n",
    "a: b: c\n",
    "%YAML 2.0\n---\na: 1\n",
    "a: 1\n---\nb: 2\n",
    "\x07",
]


def test_the_corpus_is_there() -> None:
    assert ROOT / "config" / "default.yaml" in CORPUS
    assert len(CORPUS) > 10


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_document_reads_as_safe_load_reads_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert _outcome(_load_yaml, text) == _outcome(yaml.safe_load, text)


@pytest.mark.parametrize("text", BAD)
def test_a_refused_document_fails_with_pyyamls_own_error(text: str) -> None:
    with pytest.raises(yaml.YAMLError) as expected:
        yaml.safe_load(text)
    with pytest.raises(yaml.YAMLError) as ours:
        _load_yaml(text)
    assert type(ours.value) is type(expected.value)
    assert str(ours.value) == str(expected.value)


def test_a_settings_file_with_a_syntax_error_says_where(tmp_path: Path) -> None:
    config = tmp_path / "podium.yaml"
    config.write_text("port: 8080\nexecutor:\n  max_running_tasks: [4\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(config, environ={})
    with pytest.raises(yaml.YAMLError) as pyyaml:
        yaml.safe_load(config.read_text())
    assert str(raised.value) == f"cannot read settings from {config}: {pyyaml.value}"
    assert 'in "<unicode string>", line 3' in str(raised.value)


def _outcome(load: object, text: str) -> str:
    try:
        return "value " + repr(load(text))  # type: ignore[operator]
    except yaml.YAMLError as exc:
        return f"{type(exc).__name__} {exc}"


def test_mutated_documents_read_or_fail_alike() -> None:
    """Each corpus document with one to three characters taken out or put in, 40 times
    over: where libyaml and PyYAML's parser could disagree (what one refuses, the other
    reads). Tabs were the one disagreement found (a text with one is PyYAML's alone)."""
    chosen = random.Random(22)
    characters = ":-[]{}\"'\t #&*!|>,?%@`\n\r\x00\x07\x85\u2028\ufeff\\.=~0"
    for path in CORPUS:
        text = path.read_text(encoding="utf-8")[:3000]
        for _ in range(40):
            mutated = text
            for _ in range(chosen.choice((1, 1, 2, 3))):
                at = chosen.randrange(len(mutated))
                if chosen.random() < 0.5:
                    mutated = mutated[:at] + mutated[at + 1 :]
                else:
                    mutated = mutated[:at] + chosen.choice(characters) + mutated[at:]
            assert _outcome(_load_yaml, mutated) == _outcome(yaml.safe_load, mutated), (
                path,
                mutated,
            )
