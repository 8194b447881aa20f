"""engine/templating/newnodes.py makes each Jinja node as Jinja's constructor and
`set_environment` leave it: the same class, the same attributes in the same order."""

from __future__ import annotations

import inspect

import pytest
from jinja2 import nodes

from engine.templating.environment import ENVIRONMENT
from engine.templating.newnodes import BY_CLASS, make_node

CONCRETE = sorted(
    (
        cls
        for _, cls in inspect.getmembers(nodes, inspect.isclass)
        # InternalName's constructor refuses to be called: the compiler makes it
        if issubclass(cls, nodes.Node) and not cls.abstract and cls.__init__ is nodes.Node.__init__
    ),
    key=lambda cls: cls.__name__,
)


@pytest.mark.parametrize("cls", CONCRETE, ids=lambda cls: cls.__name__)
def test_every_node_class_is_made_as_jinja_makes_it(cls: type[nodes.Node]) -> None:
    fields = [object() for _ in cls.fields]
    jinja = cls(*fields, lineno=7)
    jinja.environment = ENVIRONMENT  # what set_environment sets on a node of no children
    made = make_node(cls, 7, ENVIRONMENT, *fields)
    assert type(made) is cls
    assert list(vars(made).items()) == list(vars(jinja).items())


def test_classes_with_the_same_fields_share_one_maker() -> None:
    made = [make_node(cls, 1, ENVIRONMENT, 1, 2) for cls in (nodes.Add, nodes.Sub, nodes.Pair)]
    assert [type(node) for node in made] == [nodes.Add, nodes.Sub, nodes.Pair]
    assert BY_CLASS[nodes.Add] is BY_CLASS[nodes.Sub]
    assert BY_CLASS[nodes.Pair] is not BY_CLASS[nodes.Add]  # `key, value`, not `left, right`
    assert (vars(made[2])["key"], vars(made[2])["value"]) == (1, 2)


@pytest.mark.parametrize("cls", [nodes.Const, nodes.Filter, nodes.For], ids=lambda c: c.__name__)
def test_a_wrong_number_of_fields_is_refused(cls: type[nodes.Node]) -> None:
    too_many = range(len(cls.fields) + 1)
    with pytest.raises(TypeError):
        cls(*too_many, lineno=1)
    with pytest.raises(TypeError):
        make_node(cls, 1, ENVIRONMENT, *too_many)
    with pytest.raises(
        TypeError
    ):  # Jinja fills missing fields with None; the parser never omits one
        make_node(cls, 1, ENVIRONMENT, *range(len(cls.fields) - 1))
