"""`load_yaml` reads the documents flows are in one pass from the parser's events
(engine/yaml_loader.py `_load_simple`) and everything else in two steps (a node tree,
then the data): both give the same data, of the same types, the same marks in the same
order, and the same problems, on every YAML file of the repository, on hand-written
documents that the one pass leaves to the two steps, and on texts made by taking
characters out of those files and putting others in."""

from __future__ import annotations

import math
import random
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from engine import yaml_loader
from engine.errors import FlowDefinitionError
from engine.yaml_loader import load_yaml
from tests.support.yaml_corpus import ROOT, YAML_FILES

CORPUS = YAML_FILES

# What the one pass leaves to the two steps, each beside a document it reads
HANDED_OVER = [
    "a: &x 1\nb: *x\n",  # anchor, alias
    "base: &b {x: 1}\nuse:\n  <<: *b\n  y: 2\n",  # merge key
    "a: !!str 1\n",  # tag
    "a: !!int '1'\n",
    "a: !custom x\n",
    "!!map {a: 1}\n",
    "a: 1\na: 2\n",  # duplicate key
    "? [a, b]\n: 1\n",  # complex key
    "? {a: 1}\n: 1\n",
    "a: 1\n---\nb: 2\n",  # two documents
    "- a\n- b\n",  # not a mapping
    "just text\n",
    "",
    "# nothing\n",
    f"a: {'9' * 5000}\n",  # an integer Python refuses
    "a: [unclosed\n",  # YAML errors
    "a: 1\n\tb: 2\n",
    "a: b: c\n",
    "'<<': 1\n",  # a quoted merge key is a key
    "<<: {a: 1}\n",
]
READ = [
    "a: 1\nb: 1.5\nc: true\nd: null\ne: ~\nf:\ng: ''\nh: \"\"\ni: '1'\nj: 0x1F\nk: .inf\n",
    "l: -.INF\nm: .NaN\nn: 0o17\no: +12\np: 1e3\nq: yes\nr: on\ns: 2024-01-01\n",
    "list:\n  - 1\n  - [2, 3]\n  - {x: y}\n  - - nested\nmap: {a: {b: {c: [1]}}}\n",
    "'quoted key': 1\n\"other\": 2\n1: int key\ntrue: bool key\nnull: null key\n",
    "block: |\n  line one\n  line two\nfolded: >\n  a\n  b\nplain: multi\n  line\n",
    "quoted: ! tagged plain\nalso: ! 'quoted'\n",
    "empty_list: []\nempty_map: {}\nunicode: héllo ☃\n'é': 1\n",
]


def two_steps(monkeypatch: pytest.MonkeyPatch, text: str) -> Any:
    with monkeypatch.context() as patch:
        patch.setattr(yaml_loader, "_load_simple", lambda *_: None)
        return read(text)


def read(text: str) -> Any:
    try:
        document = yaml_loader.load_yaml(text, source="f.yml")
    except FlowDefinitionError as exc:
        return ("problems", exc.problems)
    return ("document", document.data, list(document.marks.items()))


def assert_same(one: Any, other: Any, where: str = "") -> None:
    """Equal and of the same types all the way down (`1 == 1.0 == True` in Python)."""
    assert type(one) is type(other), f"{where}: {one!r} != {other!r}"
    if isinstance(one, dict):
        assert list(one) == list(other), where
        for key in one:
            assert_same(one[key], other[key], f"{where}.{key}")
    elif isinstance(one, list | tuple):
        assert len(one) == len(other), where
        for index, (a, b) in enumerate(zip(one, other, strict=True)):
            assert_same(a, b, f"{where}[{index}]")
    elif isinstance(one, float) and math.isnan(one):
        assert math.isnan(other), where
    else:
        assert one == other, f"{where}: {one!r} != {other!r}"


def test_the_repositorys_flows_are_read_in_one_pass() -> None:
    read_in_one_pass = [
        path
        for path in CORPUS
        if yaml_loader._load_simple(path.read_text(encoding="utf-8"), 64, 200_000) is not None
    ]
    assert len(read_in_one_pass) > len(CORPUS) * 0.8  # the one pass is what flows take


@pytest.mark.parametrize("path", CORPUS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_file_reads_as_in_two_steps(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert_same(read(text), two_steps(monkeypatch, text))


@pytest.mark.parametrize("text", HANDED_OVER + READ)
def test_documents_read_as_in_two_steps(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    is_handed_over = text in HANDED_OVER
    assert (yaml_loader._load_simple(text, 64, 200_000) is None) is is_handed_over
    assert_same(read(text), two_steps(monkeypatch, text))


def test_limits_are_the_two_steps_to_state(monkeypatch: pytest.MonkeyPatch) -> None:
    deep = "a: " + "[" * 9 + "]" * 9 + "\n"  # 10 levels, the root's mapping included
    wide = "a: [" + ", ".join(["1"] * 30) + "]\n"  # 33 nodes
    for text, limit, around in ((deep, "max_depth", 10), (wide, "max_nodes", 33)):
        for value in range(around - 2, around + 3):
            with monkeypatch.context() as patch:
                limited: dict[str, Any] = {limit: value}
                patch.setattr(yaml_loader, "load_yaml", partial(load_yaml, **limited))
                one = read(text)
                patch.setattr(yaml_loader, "_load_simple", lambda *_: None)
                other = read(text)
            assert_same(one, other, f"{limit}={value}")
            assert (one[0] == "document") is (value >= around), f"{limit}={value}"


def test_mutated_files_read_as_in_two_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(22)
    alphabet = " \n\t:-[]{},'\"#&*!|>?<%@`abc019."
    texts = [path.read_text(encoding="utf-8") for path in CORPUS] + READ
    for text in texts:
        for _ in range(120):
            mutated = list(text)
            for _ in range(rng.randint(1, 3)):
                at = rng.randrange(len(mutated) + 1)
                if mutated and rng.random() < 0.5:
                    del mutated[min(at, len(mutated) - 1)]
                else:
                    mutated.insert(at, rng.choice(alphabet))
            candidate = "".join(mutated)
            assert_same(read(candidate), two_steps(monkeypatch, candidate), repr(candidate[:80]))
