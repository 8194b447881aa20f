"""The one sandboxed Jinja environment every render uses, and what makes it strict.

- `PodiumUndefined` is strict (printing, comparing, iterating, calling or doing arithmetic
  on it raises) but chainable: `outputs.missing.value` is still undefined, not an error,
  so `is defined` and `??` work on whole chains. The error names the variable path.
- `PodiumCodeGenerator` changes what Jinja compiles: attribute and item lookups carry the
  static path of their object (for those messages), and output appended to a buffer
  (set blocks, macros) is counted against the budget.
- `PodiumEnvironment` rewrites each parsed tree (every `{% for %}` iterable goes through
  `guard_loop`; `~` prints its operands like `{{ }}` does), adds size checks to the
  sandbox's operator and call hooks, caches compiled templates by source, and translates
  every error into TemplateError. Text and `{{ }}` templates are parsed by
  engine/templating/fastparse.py (the same tree as Jinja's parser, several times faster).

The environment holds no per-render state (that is the `RenderBudget`), so one instance
and one template cache serve every Renderer.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, NoReturn, TypeVar, cast

from jinja2 import Template, TemplateSyntaxError, UndefinedError, nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import SecurityError, TemplateRuntimeError
from jinja2.parser import Parser
from jinja2.runtime import Context, LoopContext, StrictUndefined, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing, object_type_repr

from engine.errors import TemplateError
from engine.templating import reading
from engine.templating.bounds import (
    MAX_RENDER_DEPTH,
    check_binop,
    check_call,
    check_size,
    current_budget,
    guard_loop,
    output_too_long,
)
from engine.templating.direct import (
    DirectExpression,
    DirectScope,
    DirectTemplate,
    Unsupported,
    build_expression,
    build_template,
    static_path,
)
from engine.templating.fastparse import FastParser
from engine.templating.functions import install
from engine.templating.kv import kv
from engine.templating.newnodes import make_node
from engine.templating.output import to_text
from engine.templating.pebble import rewrite_expression, rewrite_template
from engine.templating.secrets import taint_filters

__all__ = ["ENVIRONMENT", "MissingVariableError", "PodiumEnvironment", "PodiumUndefined"]

TEMPLATE_CACHE_SIZE = 4096
_Node = TypeVar("_Node", bound=nodes.Node)


class MissingVariableError(UndefinedError):
    """An UndefinedError that knows which variable path was missing."""

    def __init__(self, message: str, variable: str | None) -> None:
        super().__init__(message)
        self.variable = variable


class PodiumUndefined(StrictUndefined):
    """Strict but chainable undefined value; see the module docstring."""

    __slots__ = ("_variable",)

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = missing,
        name: str | None = None,
        exc: type[TemplateRuntimeError] = UndefinedError,
        variable: str | None = None,
    ) -> None:
        super().__init__(hint, obj, name, exc)
        if variable is None and obj is missing:
            variable = name  # an undefined top-level name
        self._variable = variable

    def __repr__(self) -> str:
        return f"<PodiumUndefined {self._undefined_message}>"

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__" and name[-2:] == "__":
            raise AttributeError(name)
        return self

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> NoReturn:
        if self._undefined_exception is UndefinedError:
            raise MissingVariableError(self._undefined_message, self._variable)
        raise self._undefined_exception(self._undefined_message)

    def __getitem__(self, key: Any) -> PodiumUndefined:  # type: ignore[override]
        return self

    # The base classes bind these to *their* _fail_with_undefined_error; rebind to ours
    # so every failure carries the variable.
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _fail_with_undefined_error
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = _fail_with_undefined_error
    __mod__ = __rmod__ = __pos__ = __neg__ = __call__ = _fail_with_undefined_error
    __lt__ = __le__ = __gt__ = __ge__ = __int__ = __float__ = _fail_with_undefined_error
    __complex__ = __pow__ = __rpow__ = _fail_with_undefined_error
    __iter__ = __str__ = __len__ = __eq__ = __ne__ = __bool__ = _fail_with_undefined_error
    __hash__ = __contains__ = _fail_with_undefined_error


# Jinja forbids new node types, so the loop guard and `~` become calls of internal
# filters: a filter is called directly (no sandbox `call` overhead) and, unlike a bare
# Concat, folds constants through our own code (`'a' ~ true` is "atrue", not "aTrue").
LOOP_FILTER = "_podium_loop"
CONCAT_FILTER = "_podium_concat"


class PodiumCodeGenerator(CodeGenerator):
    """Jinja's code generator with the hooks described in the module docstring."""

    _buffered_output = False

    @optimizeconst
    def visit_Getattr(self, node: nodes.Getattr, frame: Frame) -> None:
        self.write("environment.podium_getattr(")
        self.visit(node.node, frame)
        self.write(f", {node.attr!r}, {static_path(node.node)!r})")

    @optimizeconst
    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        if isinstance(node.arg, nodes.Slice):
            # Jinja writes `obj[a:b]` as plain Python; go through getitem so a slice of a
            # secret is masked like the secret.
            self.write("environment.getitem(")
            self.visit(node.node, frame)
            self.write(", slice(")
            for index, part in enumerate((node.arg.start, node.arg.stop, node.arg.step)):
                if index:
                    self.write(", ")
                if part is None:
                    self.write("None")
                else:
                    self.visit(part, frame)
            self.write("))")
            return
        self.write("environment.podium_getitem(")
        self.visit(node.node, frame)
        self.write(", ")
        self.visit(node.arg, frame)
        self.write(f", {static_path(node.node)!r})")

    # Output into a buffer ({% set %} blocks, macros, filter blocks) is not streamed, so
    # the renderer cannot see it grow: count it where it is appended.
    def visit_Output(self, node: nodes.Output, frame: Frame) -> None:
        self._buffered_output = frame.buffer is not None
        super().visit_Output(node, frame)

    def _output_const_repr(self, group: Iterable[Any]) -> str:
        text = super()._output_const_repr(group)
        return f"environment.podium_buffered({text})" if self._buffered_output else text

    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        if frame.buffer is not None:
            self.write("environment.podium_buffered(")
        super()._output_child_pre(node, frame, finalize)

    def _output_child_post(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        super()._output_child_post(node, frame, finalize)
        if frame.buffer is not None:
            self.write(")")

    def start_write(self, frame: Frame, node: nodes.Node | None = None) -> None:
        super().start_write(frame, node)
        if frame.buffer is not None:
            self.write("environment.podium_buffered(")

    def end_write(self, frame: Frame) -> None:
        if frame.buffer is not None:
            self.write(")")
        super().end_write(frame)


class PodiumEnvironment(ImmutableSandboxedEnvironment):
    """Sandboxed (immutable: no list.append or dict.update), autoescape off, strict."""

    code_generator_class = PodiumCodeGenerator
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self) -> None:
        super().__init__(
            autoescape=False,
            undefined=PodiumUndefined,
            finalize=to_text,
            keep_trailing_newline=True,  # Pebble keeps it; SQL and scripts end with one
            auto_reload=False,
        )
        install(self)
        self.globals["kv"] = kv  # engine/templating/kv.py: reads entries loaded before the task
        reading.install(self)
        self.filters[LOOP_FILTER] = guard_loop
        self.filters[CONCAT_FILTER] = concat
        taint_filters(self.filters, lambda: current_budget().secrets)
        # Trees parsed by the checks at flow load, with the Pebble-rewritten text they were
        # parsed from, handed over to the first compile of the same source (then
        # dropped): a template is rewritten and parsed once, not twice.
        self._parsed: OrderedDict[str, tuple[str, nodes.Template]] = OrderedDict()
        self._parsed_lock = threading.Lock()
        self._fast_parser = FastParser(self)
        self.templates = lru_cache(maxsize=TEMPLATE_CACHE_SIZE)(self._compile_template)
        self.expressions = lru_cache(maxsize=TEMPLATE_CACHE_SIZE)(self._compile_expression)

    def __repr__(self) -> str:
        return f"<PodiumEnvironment cached={self.templates.cache_info().currsize}>"

    # -- compiling -------------------------------------------------------------------

    # One-line templates of text and expressions skip code generation (engine/templating/
    # direct.py); the rest compile. Both parse and rewrite the tree the same way first.

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Text and `{{ }}` tags: engine/templating/fastparse.py builds the same tree
        # without Jinja's lexer; anything else, and every error, is Jinja's.
        tree = self._fast_parser.parse_template(source)
        return super()._parse(source, name, filename) if tree is None else tree

    def parse_template(self, source: str) -> nodes.Template:
        """The tree of `source` (Pebble syntax rewritten), for the checks to read and never
        change: the first compile of `source` takes it over."""
        rewritten = rewrite_template(source)
        tree = self._parse(rewritten, None, None)
        with self._parsed_lock:
            self._parsed[source] = (rewritten, tree)
            if len(self._parsed) > TEMPLATE_CACHE_SIZE:
                self._parsed.popitem(last=False)
        return tree

    def _compile_template(self, source: str) -> Template | DirectTemplate:
        with self._parsed_lock:
            handed = self._parsed.pop(source, None)
        if handed is None:
            rewritten = rewrite_template(source)
            parsed = self._parse(rewritten, None, None)
        else:
            rewritten, parsed = handed
        tree = _concat_to_filter(parsed, self) if "~" in rewritten else parsed
        if "\n" not in rewritten:
            try:
                return build_template(tree, self)
            except Unsupported:
                pass
        return self.from_string(tree)

    def _compile_expression(self, expression: str) -> Template | DirectExpression:
        rewritten = rewrite_expression(expression)
        expr = self._fast_parser.parse_expression(rewritten)
        if expr is None:
            parser = Parser(self, rewritten, state="variable")
            expr = parser.parse_expression()
            if not parser.stream.eos:
                raise TemplateSyntaxError(
                    "unexpected text after the expression", parser.stream.current.lineno
                )
            expr.set_environment(self)
        if "~" in rewritten:
            expr = _concat_to_filter(expr, self)
        if "\n" not in rewritten:
            try:
                return build_expression(expr, self)
            except Unsupported:
                pass
        body = [nodes.Assign(nodes.Name("result", "store"), expr, lineno=1)]
        return self.from_string(nodes.Template(body, lineno=1))

    def _generate(
        self,
        source: nodes.Template,
        name: str | None,
        filename: str | None,
        defer_init: bool = False,
    ) -> str:
        for loop in list(source.find_all(nodes.For)):
            if not _is_filter(loop.iter, LOOP_FILTER):
                loop.iter = _filter_call(LOOP_FILTER, cast(nodes.Expr, loop.iter), self)
        source = _concat_to_filter(source, self)
        return super()._generate(source, name, filename, defer_init)

    # -- rendering -------------------------------------------------------------------

    def render_source(self, source: str, variables: Mapping[str, Any]) -> str:
        """Render with the current budget; every failure raised as TemplateError."""
        try:
            template = self.templates(source)
        except Exception as exc:
            _raise_translated(exc, source)
        limit = current_budget().max_output_chars
        try:
            if isinstance(template, DirectTemplate):
                constant = template.constant
                if constant is None:
                    return template.render(DirectScope(self, variables), limit)
                if len(constant) > limit:  # folded at compile time: no scope
                    raise output_too_long(limit)
                return constant
            parts: list[str] = []
            size = 0
            for chunk in template.root_render_func(self._context(template, variables)):
                size += len(chunk)
                if size > limit:
                    raise output_too_long(limit)
                parts.append(chunk)
        except Exception as exc:
            _raise_translated(exc, source, template)
        return "".join(parts)

    def _context(self, template: Template, variables: Mapping[str, Any]) -> Context:
        # Template.new_context copies the globals through a ChainMap and builds a set of
        # their names on every call (7 us of a 15 us render); one merged dict is enough.
        return self.context_class(
            self, {**self.globals, **variables}, template.name, template.blocks
        )

    def new_direct_context(self, variables: Mapping[str, Any]) -> Context:
        """The Context a direct template or expression builds when one of its calls or
        filters needs it (engine/templating/direct.py): a compiled template's, unnamed."""
        return self.context_class(self, {**self.globals, **variables}, None, {})

    def render_nested(self, source: str, variables: Mapping[str, Any]) -> str:
        """`render()` called from inside a template: same budget, bounded depth."""
        if "{{" not in source and "{%" not in source:
            return source
        budget = current_budget()
        if budget.depth >= MAX_RENDER_DEPTH:
            raise TemplateError(f"render() nested more than {MAX_RENDER_DEPTH} levels deep")
        budget.depth += 1
        try:
            return self.render_source(source, variables)
        finally:
            budget.depth -= 1

    def evaluate_source(self, expression: str, variables: Mapping[str, Any], original: str) -> Any:
        try:
            template = self.expressions(expression)
        except Exception as exc:
            _raise_translated(exc, original)
        try:
            if isinstance(template, DirectExpression):
                result = template.evaluate(DirectScope(self, variables))
            else:
                context = self._context(template, variables)
                for _ in template.root_render_func(context):
                    pass
                result = context.vars["result"]
        except Exception as exc:
            _raise_translated(exc, original, template)
        if isinstance(result, Undefined):
            try:
                result._fail_with_undefined_error()
            except Exception as exc:  # raised here, not in the template: no line
                _raise_translated(exc, original)
        return result

    # -- hooks called by the generated code ------------------------------------------

    def podium_getattr(self, obj: Any, attribute: str, path: str | None) -> Any:
        # Data first, as Pebble does: an output named `items` or `keys` is the value, not
        # the dict method. Plain dicts (the whole Kestra context) skip the sandbox checks,
        # which only concern attributes.
        if type(obj) is dict:
            if attribute in obj:
                return obj[attribute]
        elif isinstance(obj, Undefined):
            return obj  # keep the first missing link of a chain as the error
        elif isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        value = self.getattr(obj, attribute)
        if type(value) is PodiumUndefined and value._undefined_exception is UndefinedError:
            return _missing(obj, attribute, path, is_attribute=True)
        return value

    def getitem(self, obj: Any, argument: Any) -> Any:
        value = super().getitem(obj, argument)
        if type(argument) is slice and type(obj) is str:
            secrets = current_budget().secrets
            if secrets is not None:
                secrets.derive(obj, value)  # a slice of a secret is masked too
        return value

    def podium_getitem(self, obj: Any, key: Any, path: str | None) -> Any:
        if type(obj) is dict:
            try:
                return obj[key]
            except (KeyError, TypeError):
                pass
        elif isinstance(obj, Undefined):
            return obj
        value = self.getitem(obj, key)
        if type(value) is PodiumUndefined and value._undefined_exception is UndefinedError:
            return _missing(obj, key, path, is_attribute=False)
        return value

    def podium_buffered(self, text: str) -> str:
        return current_budget().count_buffered(text)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_binop(operator, left, right, current_budget().max_output_chars)
        return self.binop_table[operator](left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = current_budget()
        budget.check_deadline()  # recursive macros and loop() make work without a for
        if isinstance(__obj, LoopContext) and args:
            args = (guard_loop(args[0]), *args[1:])
        else:
            args = check_call(__obj, args, kwargs, budget.max_output_chars)
        return super().call(__context, __obj, *args, **kwargs)


def concat(values: tuple[Any, ...]) -> str:
    """`a ~ b ~ c`, printing each operand like `{{ }}` does."""
    texts = [to_text(value) for value in values]
    check_size(sum(map(len, texts)), "'~' concatenation")
    return "".join(texts)


def _filter_call(name: str, argument: nodes.Expr, environment: PodiumEnvironment) -> nodes.Filter:
    call = nodes.Filter(argument, name, [], [], None, None, lineno=argument.lineno)
    call.set_environment(environment)
    return call


def _is_filter(node: nodes.Node, name: str) -> bool:
    return isinstance(node, nodes.Filter) and node.name == name


def _concat_to_filter(node: _Node, environment: PodiumEnvironment) -> _Node:
    """`node` with every Concat below it (itself included) replaced, in place, by the
    concat filter applied to the tuple of its operands.

    A NodeTransformer does the same, but visits each node through three generic calls
    and rebuilds every list: on a one-line template that was most of its first compile.
    The operands already carry their environment (parsed trees do), so only the two new
    nodes get it."""
    for field in node.fields:
        value = getattr(node, field, None)
        if isinstance(value, nodes.Node):
            changed = _concat_to_filter(value, environment)
            if changed is not value:
                setattr(node, field, changed)
        elif type(value) is list:
            for index, item in enumerate(value):
                if isinstance(item, nodes.Node):
                    changed = _concat_to_filter(item, environment)
                    if changed is not item:
                        value[index] = changed
    if type(node) is not nodes.Concat:
        return node
    lineno = node.lineno
    items = make_node(nodes.Tuple, lineno, environment, node.nodes, "load")
    return cast(
        _Node,
        make_node(nodes.Filter, lineno, environment, items, CONCAT_FILTER, [], [], None, None),
    )


def _missing(obj: Any, key: Any, path: str | None, *, is_attribute: bool) -> PodiumUndefined:
    if path is None:
        what = "attribute" if is_attribute else "key"
        return PodiumUndefined(f"{object_type_repr(obj)!r} has no {what} {key!r}", obj, key)
    if is_attribute:
        variable = f"{path}.{key}"
        detail = f"{path!r} has no attribute {key!r}"
    else:
        variable = f"{path}[{key!r}]"
        kind = "item" if isinstance(key, int) else "key"
        detail = f"{path!r} has no {kind} {key!r}"
    return PodiumUndefined(f"{variable!r} is undefined ({detail})", obj, key, variable=variable)


def translate_error(
    exc: BaseException,
    source: str,
    template: Template | DirectTemplate | DirectExpression | None = None,
) -> TemplateError:
    """Any failure while compiling or rendering `source`, as the TemplateError to raise."""
    variable = None
    if isinstance(exc, TemplateError):
        if exc.template:
            return exc  # from a nested render(): it already names the inner template
        message, variable = str(exc), exc.variable
    elif isinstance(exc, TemplateSyntaxError):
        return TemplateError(f"syntax error at line {exc.lineno}: {exc.message}", template=source)
    elif isinstance(exc, MissingVariableError):
        message, variable = str(exc), exc.variable
    elif isinstance(exc, SecurityError):
        message = f"blocked by the template sandbox: {exc}"
    elif isinstance(exc, UndefinedError):
        message = str(exc)
    elif isinstance(exc, RecursionError):
        message = "template calls nested too deeply"
    else:
        message = f"{type(exc).__name__}: {exc}"
    line = _template_line(exc, template)
    if line is not None and "\n" in source:
        message = f"{message}, at line {line}"
    return TemplateError(message, template=source, variable=variable)


def _raise_translated(
    exc: Exception,
    source: str,
    template: Template | DirectTemplate | DirectExpression | None = None,
) -> NoReturn:
    error = translate_error(exc, source, template)
    if error is exc:
        raise exc  # a nested render's error, already complete
    raise error from exc


def _template_line(
    exc: BaseException, template: Template | DirectTemplate | DirectExpression | None
) -> int | None:
    """The template line of the innermost frame of `template`'s compiled code."""
    if template is None:
        return None
    if not isinstance(template, Template):
        return 1  # one line only (see _compile_template); compiled, it says line 1 too
    module_globals = template.root_render_func.__globals__
    line = None
    traceback = exc.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_globals is module_globals:
            line = template.get_corresponding_lineno(traceback.tb_lineno)
        traceback = traceback.tb_next
    return line


ENVIRONMENT = PodiumEnvironment()
