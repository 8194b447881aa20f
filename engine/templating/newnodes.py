"""Jinja nodes made as Jinja's parser leaves them, at a third of the cost.

`make_node(cls, lineno, environment, *fields)` is `cls(*fields, lineno=lineno)` followed by
`set_environment(environment)`, without `Node.__init__`'s argument checks: the fields,
the line and the environment stored in that order (`vars(node)` lists them so). The
fast parser (engine/templating/fastparse.py) makes every node of a template's tree
through it, and the compile step the two nodes of each `~` (environment.py).

Most node classes share their fields with others (`left, right`: the nine binary
operators), so there is one maker per list of fields, a function whose attribute stores
are written out: 0.3 µs a node, against 0.67 µs for `setattr` through a loop over
`cls.fields` and more for Jinja's constructor. A maker is compiled the first time a class
with its list of fields is made (`_written`; a `flow run` of trivial tasks compiles six),
as `dataclasses` and `namedtuple` write their methods. Attributes are set one by one,
never through `__dict__`: that would give every node a dict of its own instead of
Python's compact inline attributes. tests/engine/test_templating_newnodes.py compares
the nodes of every concrete class with Jinja's constructor.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from jinja2 import Environment, nodes

__all__ = ["BY_CLASS", "make_node", "maker"]

_N = TypeVar("_N", bound=nodes.Node)

# A class -> the function that makes its nodes, filled as classes are first made:
# (cls, lineno, environment, *its fields) -> the node; a wrong number of fields is a
# TypeError, as in `Node.__init__`.
BY_CLASS: dict[type[nodes.Node], Callable[..., Any]] = {}


def make_node(cls: type[_N], lineno: int | None, environment: Environment, *fields: Any) -> _N:
    """`cls(*fields, lineno=lineno)` with its environment set (see the module docstring)."""
    return (BY_CLASS.get(cls) or maker(cls))(cls, lineno, environment, *fields)


def maker(cls: type[nodes.Node]) -> Callable[..., Any]:
    """The function that makes nodes of `cls` (looked up by its fields once)."""
    made = BY_CLASS[cls] = _written(cls.fields)
    return made


@cache
def _written(fields: tuple[str, ...]) -> Callable[..., Any]:
    """The maker of nodes with these fields, its stores written out and compiled. The
    names are Jinja's own field names, checked to be identifiers all the same."""
    if not all(name.isidentifier() for name in fields):
        raise ValueError(f"not a list of attribute names: {fields!r}")
    params = [f"field_{index}" for index in range(len(fields))]
    stores = "".join(
        f"    made.{name} = {param}\n" for name, param in zip(fields, params, strict=True)
    )
    source = (
        f"def make(cls, lineno, environment, {', '.join(params)}):\n"
        "    made = new(cls)\n"
        f"{stores}"
        "    made.lineno = lineno\n"
        "    made.environment = environment\n"
        "    return made\n"
    )
    namespace: dict[str, Any] = {"new": object.__new__}
    exec(compile(source, f"<node maker {', '.join(fields)}>", "exec"), namespace)
    make: Callable[..., Any] = namespace["make"]
    return make
