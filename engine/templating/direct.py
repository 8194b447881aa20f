"""Templates that are only text and `{{ expression }}`s, evaluated from the parsed tree.

Compiling a template costs Jinja's code generator plus Python's `compile` (about a
quarter of a millisecond each): a flow of a thousand tasks, each with its own small
template, spent most of its run compiling. Most templates are one line of text and
expressions, and for those `build_template` turns Jinja's tree into nested closures
instead, each doing exactly what the generated code would do:

- names resolve as the Context does (the variables, then the environment's globals;
  `undefined(name=...)` when missing), attribute and item lookups go through
  `podium_getattr`/`podium_getitem`, calls through the sandbox's `call`, `+ * ** %`
  through `call_binop`; filters and tests are called directly with the same
  context/environment argument, as compiled code calls them;
- constants are folded first by Jinja's own optimizer, and output children that fold
  to a constant are printed once, at build time, as the code generator does;
- output is `str(finalize(value))` child by child, its size checked after each.

Anything else (statements, `{% %}` blocks, an unknown filter, a multi-line template
whose errors must name a line, …) raises `Unsupported` and the caller compiles the
tree as before, so the two paths never have to agree on more than this subset.

The closures evaluate against a `DirectScope`, not a Jinja Context: building a Context
(a dict merging the globals into the variables, an EvalContext, a set, a dict of blocks)
was over 40% of a cached `{{ outputs.a.value }}` render, and only a call, a `+ * ** %`
or a filter or test taking the context or eval context uses it. The scope builds it the
first time one of those asks, once per render, the same Context as the compiled path's.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from jinja2 import nodes
from jinja2.optimizer import Optimizer
from jinja2.runtime import Context
from jinja2.utils import _PassArg, missing

from engine.templating.bounds import output_too_long

if TYPE_CHECKING:
    from engine.templating.environment import PodiumEnvironment

__all__ = [
    "DirectExpression",
    "DirectScope",
    "DirectTemplate",
    "Unsupported",
    "build_expression",
    "build_template",
    "static_path",
]


class DirectScope:
    """The variables of one direct render, and its Context when something needs one."""

    __slots__ = ("_context", "_environment", "variables")

    def __init__(self, environment: PodiumEnvironment, variables: Mapping[str, Any]) -> None:
        self._environment = environment
        self.variables = variables
        self._context: Context | None = None

    def __repr__(self) -> str:
        return f"<DirectScope {len(self.variables)} variables>"

    def context(self) -> Context:
        """The render's Context, built on first use (see the module docstring)."""
        if self._context is None:
            self._context = self._environment.new_direct_context(self.variables)
        return self._context


Evaluator = Callable[[DirectScope], Any]


class Unsupported(Exception):
    """A tree this module does not evaluate: the caller compiles it."""


class DirectTemplate:
    """A template made of text and expressions; `render` returns what Jinja would."""

    __slots__ = ("_alone", "_finalize", "_parts", "constant")

    def __init__(self, parts: tuple[str | Evaluator, ...], finalize: Callable[[Any], Any]) -> None:
        self._parts = parts
        self._finalize = finalize
        # The whole output when every expression folded to a constant, else None.
        self.constant: str | None = None
        self._alone: Evaluator | None = None  # the one expression of `{{ expr }}`
        if not parts:
            self.constant = ""
        elif len(parts) == 1:
            if isinstance(parts[0], str):
                self.constant = parts[0]
            else:
                self._alone = parts[0]

    def __repr__(self) -> str:
        return f"<DirectTemplate {len(self._parts)} parts>"

    def render(self, scope: DirectScope, limit: int) -> str:
        """The output, refused once longer than `limit` characters: checked after each
        part, as the compiled path checks each chunk, so the same error comes first."""
        finalize = self._finalize
        alone = self._alone
        if alone is not None:  # `{{ expr }}` alone, most templates: nothing to join
            text = str(finalize(alone(scope)))
            if len(text) > limit:
                raise output_too_long(limit)
            return text
        texts: list[str] = []
        size = 0
        for part in self._parts:
            text = part if isinstance(part, str) else str(finalize(part(scope)))
            size += len(text)
            if size > limit:
                raise output_too_long(limit)
            texts.append(text)
        return "".join(texts)


class DirectExpression:
    """One expression; `evaluate` returns its native value."""

    __slots__ = ("_evaluate",)

    def __init__(self, evaluate: Evaluator) -> None:
        self._evaluate = evaluate

    def __repr__(self) -> str:
        return "<DirectExpression>"

    def evaluate(self, scope: DirectScope) -> Any:
        return self._evaluate(scope)


def static_path(node: nodes.Node) -> str | None:
    """`outputs.extract.uri` for the node of that expression; None when not static."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        base = static_path(node.node)
        return None if base is None else f"{base}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        base = static_path(node.node)
        return None if base is None else f"{base}[{node.arg.value!r}]"
    return None


def build_template(tree: nodes.Template, environment: PodiumEnvironment) -> DirectTemplate:
    """`tree` (parsed and rewritten as for compiling) as closures, or Unsupported."""
    eval_ctx = nodes.EvalContext(environment, None)
    optimizer = Optimizer(environment)
    finalize = environment.finalize
    if finalize is None or _PassArg.from_obj(finalize) is not None:
        raise Unsupported("finalize")
    parts: list[str | Evaluator] = []
    for statement in tree.body:
        if type(statement) is not nodes.Output:
            raise Unsupported(type(statement).__name__)
        for child in statement.nodes:
            if _cannot_fold(child):  # the common `{{ outputs.x.uri }}`: nothing to try
                parts.append(_Builder(environment).build(child))
                continue
            # What the code generator prints at compile time: template data as is,
            # expressions that fold to a constant finalized once.
            try:
                const = child.as_const(eval_ctx)
                text = str(const) if type(child) is nodes.TemplateData else str(finalize(const))
            except Exception:  # not constant: evaluated at each render
                folded = optimizer.visit(child, eval_ctx)
                parts.append(_Builder(environment).build(folded))
                continue
            last = parts[-1] if parts else None
            if isinstance(last, str):
                parts[-1] = last + text
            else:
                parts.append(text)
    return DirectTemplate(tuple(parts), finalize)


def build_expression(expr: nodes.Expr, environment: PodiumEnvironment) -> DirectExpression:
    """One expression (parsed and rewritten as for compiling) as closures, or Unsupported."""
    if not _cannot_fold(expr):
        expr = Optimizer(environment).visit(expr, nodes.EvalContext(environment, None))
    return DirectExpression(_Builder(environment).build(expr))


def _cannot_fold(node: nodes.Node) -> bool:
    """Whether Jinja's optimizer would leave `node` as it is (constants aside, which it
    replaces by equal ones) and its `as_const` would raise Impossible: a name, and
    attribute or constant-key accesses and constant-argument filters applied to one.

    A name is never constant and each of those evaluates its operand, so nothing above
    the name can fold; the optimizer would find that out by raising and catching an
    exception per node per level, the larger part of building such a template."""
    if isinstance(node, nodes.Name):
        return True
    if isinstance(node, nodes.Getattr):
        return _cannot_fold(node.node)
    if isinstance(node, nodes.Getitem):
        return isinstance(node.arg, nodes.Const) and _cannot_fold(node.node)
    if isinstance(node, nodes.Filter):
        return (  # the operand first: where it can fold, nothing else need be looked at
            node.node is not None
            and _cannot_fold(node.node)
            and node.dyn_args is None
            and node.dyn_kwargs is None
            and all(isinstance(arg, nodes.Const) for arg in node.args)
            and all(isinstance(kwarg.value, nodes.Const) for kwarg in node.kwargs)
        )
    return False


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "**": operator.pow,
    "%": operator.mod,
}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gteq": operator.ge,
    "lt": operator.lt,
    "lteq": operator.le,
    "in": lambda left, right: left in right,
    "notin": lambda left, right: left not in right,
}


class _Builder:
    """One closure per node; see the module docstring for what each mirrors."""

    def __init__(self, environment: PodiumEnvironment) -> None:
        self.environment = environment

    def build(self, node: nodes.Node) -> Evaluator:
        method = getattr(self, f"build_{type(node).__name__}", None)
        if method is None:
            raise Unsupported(type(node).__name__)
        return method(node)

    def build_Const(self, node: nodes.Const) -> Evaluator:
        value = node.value
        return lambda scope: value

    def build_Name(self, node: nodes.Name) -> Evaluator:
        if node.ctx != "load":
            raise Unsupported("a name stored")
        name = node.name
        undefined = self.environment.undefined
        environment_globals = self.environment.globals

        def resolve(scope: DirectScope) -> Any:
            # Context.resolve_or_missing over `{**globals, **variables}`, without the merge
            variables = scope.variables
            if name in variables:
                return variables[name]
            value = environment_globals.get(name, missing)
            return undefined(name=name) if value is missing else value

        return resolve

    def build_Getattr(self, node: nodes.Getattr) -> Evaluator:
        obj = self.build(node.node)
        attribute, path = node.attr, static_path(node.node)
        getattr_ = self.environment.podium_getattr
        return lambda scope: getattr_(obj(scope), attribute, path)

    def build_Getitem(self, node: nodes.Getitem) -> Evaluator:
        obj = self.build(node.node)
        if isinstance(node.arg, nodes.Slice):
            bounds = [
                None if part is None else self.build(part)
                for part in (node.arg.start, node.arg.stop, node.arg.step)
            ]
            getitem = self.environment.getitem

            def sliced(scope: DirectScope) -> Any:
                value = obj(scope)
                start, stop, step = (None if b is None else b(scope) for b in bounds)
                return getitem(value, slice(start, stop, step))

            return sliced
        key, path = self.build(node.arg), static_path(node.node)
        getitem_ = self.environment.podium_getitem
        return lambda scope: getitem_(obj(scope), key(scope), path)

    def _arguments(
        self, node: nodes.Filter | nodes.Test | nodes.Call
    ) -> tuple[tuple[Evaluator, ...], tuple[tuple[str, Evaluator], ...]]:
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            raise Unsupported("*args or **kwargs")
        args = tuple(self.build(arg) for arg in node.args)
        kwargs = tuple((str(kwarg.key), self.build(kwarg.value)) for kwarg in node.kwargs)
        return args, kwargs

    def _filter_or_test(self, node: nodes.Filter | nodes.Test, function: Any) -> Evaluator:
        if function is None:
            raise Unsupported(f"unknown {type(node).__name__.lower()} {node.name!r}")
        if node.node is None:
            raise Unsupported("a filter block")
        value = self.build(node.node)
        args, kwargs = self._arguments(node)
        pass_arg = _PassArg.from_obj(function)
        environment = self.environment

        def call(scope: DirectScope) -> Any:
            if pass_arg is None:
                first: tuple[Any, ...] = ()
            elif pass_arg is _PassArg.context:
                first = (scope.context(),)
            elif pass_arg is _PassArg.eval_context:
                first = (scope.context().eval_ctx,)
            else:
                first = (environment,)
            return function(
                *first,
                value(scope),
                *[arg(scope) for arg in args],
                **{key: arg(scope) for key, arg in kwargs},
            )

        return call

    def build_Filter(self, node: nodes.Filter) -> Evaluator:
        return self._filter_or_test(node, self.environment.filters.get(node.name))

    def build_Test(self, node: nodes.Test) -> Evaluator:
        return self._filter_or_test(node, self.environment.tests.get(node.name))

    def build_Call(self, node: nodes.Call) -> Evaluator:
        function = self.build(node.node)
        args, kwargs = self._arguments(node)
        call = self.environment.call

        def called(scope: DirectScope) -> Any:
            return call(
                scope.context(),
                function(scope),
                *[arg(scope) for arg in args],
                **{key: arg(scope) for key, arg in kwargs},
            )

        return called

    def _binary(self, node: nodes.BinExpr) -> Evaluator:
        left, right, op = self.build(node.left), self.build(node.right), node.operator
        if op in self.environment.intercepted_binops:
            call_binop = self.environment.call_binop
            return lambda scope: call_binop(scope.context(), op, left(scope), right(scope))
        function = _BINARY[op]
        return lambda scope: function(left(scope), right(scope))

    build_Add = build_Sub = build_Mul = build_Div = build_FloorDiv = _binary
    build_Pow = build_Mod = _binary

    def build_And(self, node: nodes.And) -> Evaluator:
        left, right = self.build(node.left), self.build(node.right)
        return lambda scope: left(scope) and right(scope)

    def build_Or(self, node: nodes.Or) -> Evaluator:
        left, right = self.build(node.left), self.build(node.right)
        return lambda scope: left(scope) or right(scope)

    def _unary(self, node: nodes.UnaryExpr) -> Evaluator:
        if node.operator in self.environment.intercepted_unops:
            raise Unsupported("an intercepted unary operator")
        value = self.build(node.node)
        if node.operator == "not":
            return lambda scope: not value(scope)
        if node.operator == "-":
            return lambda scope: -value(scope)
        return lambda scope: +value(scope)

    build_Not = build_Neg = build_Pos = _unary

    def build_Compare(self, node: nodes.Compare) -> Evaluator:
        first = self.build(node.expr)
        operands = tuple((_COMPARE[o.op], self.build(o.expr)) for o in node.ops)
        *chained, (last_op, last) = operands

        def compare(scope: DirectScope) -> Any:
            # Python's `a < b < c`: `(a < b) and (b < c)`, b evaluated once
            left = first(scope)
            for op, operand in chained:
                right = operand(scope)
                result = op(left, right)
                if not result:
                    return result
                left = right
            return last_op(left, last(scope))

        return compare

    def build_CondExpr(self, node: nodes.CondExpr) -> Evaluator:
        if node.expr2 is None:
            raise Unsupported("an inline if without else")
        test, then, otherwise = (
            self.build(node.test),
            self.build(node.expr1),
            self.build(node.expr2),
        )
        return lambda scope: then(scope) if test(scope) else otherwise(scope)

    def build_List(self, node: nodes.List) -> Evaluator:
        items = tuple(self.build(item) for item in node.items)
        return lambda scope: [item(scope) for item in items]

    def build_Tuple(self, node: nodes.Tuple) -> Evaluator:
        if node.ctx != "load":
            raise Unsupported("a tuple stored")
        items = tuple(self.build(item) for item in node.items)
        return lambda scope: tuple([item(scope) for item in items])

    def build_Dict(self, node: nodes.Dict) -> Evaluator:
        pairs = tuple((self.build(pair.key), self.build(pair.value)) for pair in node.items)
        return lambda scope: {key(scope): value(scope) for key, value in pairs}
