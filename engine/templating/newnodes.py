"""Jinja nodes made as Jinja's parser leaves them, at a third of the cost.

`make_node(cls, lineno, environment, *fields)` is `cls(*fields, lineno=lineno)` followed by
`set_environment(environment)`, without `Node.__init__`'s argument checks: the fields,
the line and the environment stored in that order (`vars(node)` lists them so). The
fast parser (engine/templating/fastparse.py) makes every node of a template's tree
through it, and the compile step the two nodes of each `~` (environment.py).

Most node classes share their fields with others (`left, right`: the nine binary
operators), so one function per list of fields, written out with plain attribute stores:
0.3 µs a node, against 0.67 µs for `setattr` through a loop over `cls.fields` (still the
way for a class whose fields none of them has). They are written here rather than
generated at run time, so their code comes from the module's .pyc: generating them cost
a `podium flow run` of one task 2.8 M instructions (bench/README.md session 12).
Attributes are set one by one, never through `__dict__`: that would give every node a dict
of its own instead of Python's compact inline attributes.
tests/engine/test_templating_newnodes.py compares each with Jinja's constructor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from jinja2 import Environment, nodes

__all__ = ["BY_CLASS", "MAKERS", "make_any", "make_node", "maker"]

_N = TypeVar("_N", bound=nodes.Node)
_new = object.__new__


def make_node(cls: type[_N], lineno: int | None, environment: Environment, *fields: Any) -> _N:
    """`cls(*fields, lineno=lineno)` with its environment set (see the module docstring).
    A wrong number of fields is a TypeError, as in `Node.__init__`."""
    return (BY_CLASS.get(cls) or maker(cls))(cls, lineno, environment, *fields)


def maker(cls: type[nodes.Node]) -> Callable[..., Any]:
    """The function that makes nodes of `cls` (looked up by its fields once)."""
    made = BY_CLASS[cls] = MAKERS.get(cls.fields, make_any)
    return made


def make_any(
    cls: type[nodes.Node], lineno: int | None, environment: Environment, *fields: Any
) -> Any:
    """A node of any class: its fields through `setattr`."""
    node = _new(cls)
    for name, value in zip(cls.fields, fields, strict=True):
        setattr(node, name, value)
    node.lineno = lineno  # type: ignore[assignment]  # None for an Operand, as in Jinja
    node.environment = environment
    return node


# Each: (cls, lineno, environment, *its fields) -> the node. Any is the node type: the
# caller names the class.


def _value(cls: Any, lineno: Any, environment: Any, value: Any) -> Any:
    node = _new(cls)
    node.value = value
    node.lineno = lineno
    node.environment = environment
    return node


def _data(cls: Any, lineno: Any, environment: Any, data: Any) -> Any:
    node = _new(cls)
    node.data = data
    node.lineno = lineno
    node.environment = environment
    return node


def _nodes(cls: Any, lineno: Any, environment: Any, nodes_: Any) -> Any:
    node = _new(cls)
    node.nodes = nodes_
    node.lineno = lineno
    node.environment = environment
    return node


def _body(cls: Any, lineno: Any, environment: Any, body: Any) -> Any:
    node = _new(cls)
    node.body = body
    node.lineno = lineno
    node.environment = environment
    return node


def _operand(cls: Any, lineno: Any, environment: Any, operand: Any) -> Any:
    node = _new(cls)
    node.node = operand
    node.lineno = lineno
    node.environment = environment
    return node


def _items(cls: Any, lineno: Any, environment: Any, items: Any) -> Any:
    node = _new(cls)
    node.items = items
    node.lineno = lineno
    node.environment = environment
    return node


def _binary(cls: Any, lineno: Any, environment: Any, left: Any, right: Any) -> Any:
    node = _new(cls)
    node.left = left
    node.right = right
    node.lineno = lineno
    node.environment = environment
    return node


def _named(cls: Any, lineno: Any, environment: Any, name: Any, ctx: Any) -> Any:
    node = _new(cls)
    node.name = name
    node.ctx = ctx
    node.lineno = lineno
    node.environment = environment
    return node


def _items_ctx(cls: Any, lineno: Any, environment: Any, items: Any, ctx: Any) -> Any:
    node = _new(cls)
    node.items = items
    node.ctx = ctx
    node.lineno = lineno
    node.environment = environment
    return node


def _pair(cls: Any, lineno: Any, environment: Any, key: Any, value: Any) -> Any:
    node = _new(cls)
    node.key = key
    node.value = value
    node.lineno = lineno
    node.environment = environment
    return node


def _op_expr(cls: Any, lineno: Any, environment: Any, op: Any, expr: Any) -> Any:
    node = _new(cls)
    node.op = op
    node.expr = expr
    node.lineno = lineno
    node.environment = environment
    return node


def _expr_ops(cls: Any, lineno: Any, environment: Any, expr: Any, ops: Any) -> Any:
    node = _new(cls)
    node.expr = expr
    node.ops = ops
    node.lineno = lineno
    node.environment = environment
    return node


def _getattr(cls: Any, lineno: Any, environment: Any, operand: Any, attr: Any, ctx: Any) -> Any:
    node = _new(cls)
    node.node = operand
    node.attr = attr
    node.ctx = ctx
    node.lineno = lineno
    node.environment = environment
    return node


def _getitem(cls: Any, lineno: Any, environment: Any, operand: Any, arg: Any, ctx: Any) -> Any:
    node = _new(cls)
    node.node = operand
    node.arg = arg
    node.ctx = ctx
    node.lineno = lineno
    node.environment = environment
    return node


def _condexpr(cls: Any, lineno: Any, environment: Any, test: Any, expr1: Any, expr2: Any) -> Any:
    node = _new(cls)
    node.test = test
    node.expr1 = expr1
    node.expr2 = expr2
    node.lineno = lineno
    node.environment = environment
    return node


def _slice(cls: Any, lineno: Any, environment: Any, start: Any, stop: Any, step: Any) -> Any:
    node = _new(cls)
    node.start = start
    node.stop = stop
    node.step = step
    node.lineno = lineno
    node.environment = environment
    return node


def _call(
    cls: Any,
    lineno: Any,
    environment: Any,
    operand: Any,
    args: Any,
    kwargs: Any,
    dyn_args: Any,
    dyn_kwargs: Any,
) -> Any:
    node = _new(cls)
    node.node = operand
    node.args = args
    node.kwargs = kwargs
    node.dyn_args = dyn_args
    node.dyn_kwargs = dyn_kwargs
    node.lineno = lineno
    node.environment = environment
    return node


def _filter(
    cls: Any,
    lineno: Any,
    environment: Any,
    operand: Any,
    name: Any,
    args: Any,
    kwargs: Any,
    dyn_args: Any,
    dyn_kwargs: Any,
) -> Any:
    node = _new(cls)
    node.node = operand
    node.name = name
    node.args = args
    node.kwargs = kwargs
    node.dyn_args = dyn_args
    node.dyn_kwargs = dyn_kwargs
    node.lineno = lineno
    node.environment = environment
    return node


# A class's `fields` -> the function that makes its nodes
MAKERS: dict[tuple[str, ...], Callable[..., Any]] = {
    ("value",): _value,  # Const
    ("data",): _data,  # TemplateData
    ("nodes",): _nodes,  # Output, Concat
    ("body",): _body,  # Template
    ("node",): _operand,  # Not, Neg, Pos
    ("items",): _items,  # List, Dict
    ("left", "right"): _binary,  # Or, And, Add, Sub, Mul, Div, FloorDiv, Mod, Pow
    ("name", "ctx"): _named,  # Name
    ("items", "ctx"): _items_ctx,  # Tuple
    ("key", "value"): _pair,  # Pair, Keyword
    ("op", "expr"): _op_expr,  # Operand
    ("expr", "ops"): _expr_ops,  # Compare
    ("node", "attr", "ctx"): _getattr,  # Getattr
    ("node", "arg", "ctx"): _getitem,  # Getitem
    ("test", "expr1", "expr2"): _condexpr,  # CondExpr
    ("start", "stop", "step"): _slice,  # Slice
    ("node", "args", "kwargs", "dyn_args", "dyn_kwargs"): _call,  # Call
    ("node", "name", "args", "kwargs", "dyn_args", "dyn_kwargs"): _filter,  # Filter, Test
}
# A class -> its function, filled as classes are first made
BY_CLASS: dict[type[nodes.Node], Callable[..., Any]] = {}
