"""engine/templating/newnodes.py makes each Jinja node as Jinja's constructor and
`set_environment` leave it: the same class, the same attributes in the same order."""

from __future__ import annotations

import inspect

import pytest
from jinja2 import nodes

from engine.templating.environment import ENVIRONMENT
from engine.templating.newnodes import MAKERS, make_any, make_node

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


def test_the_parsers_classes_have_a_maker_of_their_own() -> None:
    used = "TemplateData Output Template CondExpr Or And Not Operand Compare Add Sub Mul Div"
    used += " FloorDiv Mod Pow Concat Neg Pos Const Name Tuple List Dict Pair Getattr Getitem"
    used += " Slice Keyword Call Filter Test"
    assert all(getattr(nodes, name).fields in MAKERS for name in used.split())
    assert nodes.For.fields not in MAKERS  # made by `make_any`, as checked above


@pytest.mark.parametrize("cls", [nodes.Const, nodes.Filter, nodes.For], ids=lambda c: c.__name__)
def test_a_wrong_number_of_fields_is_refused(cls: type[nodes.Node]) -> None:
    too_many = range(len(cls.fields) + 1)
    with pytest.raises(TypeError):
        cls(*too_many, lineno=1)
    with pytest.raises((TypeError, ValueError)):  # ValueError: zip(strict=True)
        make_node(cls, 1, ENVIRONMENT, *too_many)
    with pytest.raises(ValueError):
        make_any(cls, 1, ENVIRONMENT)  # too few
