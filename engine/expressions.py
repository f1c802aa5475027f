"""Safe expression language for BPMN conditions, JUEL translation, and the SpiffWorkflow script engine using them."""
from __future__ import annotations

import ast
import functools
import keyword
import re
from collections import ChainMap
from collections.abc import Callable, Mapping
from types import CodeType
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

MAX_LENGTH = 10_000  # longest expression source (and so longest string literal) accepted
MAX_DEPTH = 100  # deepest syntax-tree nesting accepted; keeps compile() and our walkers far from the recursion limit
MAX_SIZE = 1_000_000  # most characters/items an operator may build, nested containers included
MAX_EXPONENT = 10
MAX_POW_BITS = 100_000  # integer powers stay below ~30k decimal digits
SCRIPTS_REFUSED = "script tasks and pre/post scripts are not allowed in OneWindow; use gateway conditions and forms"


class ExpressionError(Exception):
    """An expression was refused or failed; `expression` is the source, `reason` says why."""

    def __init__(self, expression: str, reason: str) -> None:
        shown = expression if len(expression) <= 200 else expression[:200] + "..."
        super().__init__(f"{reason} (expression: {shown!r})")
        self.expression = expression
        self.reason = reason


def is_empty(value: Any) -> bool:
    """JUEL's `empty`: True for None, '' and empty collections."""
    if value is None:
        return True
    try:
        return len(value) == 0
    except TypeError:
        return False


def _safe_round(number: Any, ndigits: int | None = None) -> Any:
    # round(5, -10**7) computes 10**(10**7) internally: bound the precision.
    if ndigits is not None and abs(ndigits) > 100:
        raise ValueError("round() precision must be between -100 and 100")
    return round(number, ndigits)


def _safe_sum(values: Any, start: Any = 0) -> Any:
    # A list start turns sum() into unbounded concatenation that bypasses the size guard.
    if isinstance(start, bool) or not isinstance(start, int | float):
        raise TypeError("sum() only adds numbers")
    return sum(values, start)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len, "min": min, "max": max, "abs": abs, "round": _safe_round, "int": int, "float": float,
    "str": str, "bool": bool, "sum": _safe_sum, "any": any, "all": all, "sorted": sorted, "is_empty": is_empty,
}
_FN_PREFIX = "__ow_fn_"  # user names cannot start with '_', so these globals are out of the designer's reach


def _size(value: Any) -> int:
    """Count characters and items in value, nested containers included, stopping once past MAX_SIZE."""
    total, stack = 0, [value]
    while stack and total <= MAX_SIZE:
        item = stack.pop()
        if isinstance(item, str | bytes | list | tuple | set | frozenset | dict):
            total += len(item)
            if not isinstance(item, str | bytes):
                stack.extend(item.values() if isinstance(item, dict) else item)
    return total


def _too_big(size: int) -> ExpressionError:
    return ExpressionError("", f"result would hold {size} items/characters (limit {MAX_SIZE})")


def _mul(a: Any, b: Any) -> Any:
    for seq, times in ((a, b), (b, a)):
        if isinstance(seq, str | bytes | list | tuple) and isinstance(times, int) and times > 0:
            if (size := _size(seq) * times) > MAX_SIZE:
                raise _too_big(size)
    return a * b


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, str | bytes | list | tuple) and isinstance(b, str | bytes | list | tuple):
        if (size := _size(a) + _size(b)) > MAX_SIZE:
            raise _too_big(size)
    return a + b


def _mod(a: Any, b: Any) -> Any:
    # '%*d' % (10**9, 1) would build a gigabyte string; formatting is not needed in conditions.
    if isinstance(a, str | bytes):
        raise ExpressionError("", "string formatting with '%' is not allowed")
    return a % b


def _pow(a: Any, b: Any) -> Any:
    # The exponent is a small constant, but nesting ((9**10)**10)**10... still grows without bound.
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a).bit_length() * b > MAX_POW_BITS:
        raise ExpressionError("", f"power result would exceed {MAX_POW_BITS} bits")
    return a**b


_HELPERS = {ast.Mult: "__ow_mul", ast.Add: "__ow_add", ast.Mod: "__ow_mod", ast.Pow: "__ow_pow"}
_GLOBALS: dict[str, Any] = {"__builtins__": {}, "__ow_mul": _mul, "__ow_add": _add, "__ow_mod": _mod, "__ow_pow": _pow,
                            **{_FN_PREFIX + name: fn for name, fn in _FUNCTIONS.items()}}
_SYMBOLS = {ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&",
            ast.Invert: "~"}
_REFUSED = {ast.Lambda: "lambda is not allowed", ast.JoinedStr: "f-strings are not allowed",
            ast.FormattedValue: "f-strings are not allowed", ast.Starred: "starred unpacking (*) is not allowed",
            ast.NamedExpr: "assignment expressions (:=) are not allowed",
            **dict.fromkeys((ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp), "comprehensions are not allowed")}


def register_function(name: str, fn: Callable[..., Any]) -> None:
    """Make fn callable from expressions by its bare name (it must be pure and cheap)."""
    if not name.isidentifier() or name.startswith("_") or keyword.iskeyword(name) or name == "var":
        raise ValueError(f"cannot register a function named {name!r}")
    if not callable(fn):
        raise TypeError(f"{fn!r} is not callable")
    _FUNCTIONS[name] = _GLOBALS[_FN_PREFIX + name] = fn
    _compile.cache_clear()  # cached code and check results depend on the registry


def _small_constant(node: ast.expr) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        node = node.operand
    return (isinstance(node, ast.Constant) and isinstance(node.value, int | float)
            and not isinstance(node.value, bool) and abs(node.value) <= MAX_EXPONENT)


def _singleton(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, bool))


def _call_refusal(node: ast.Call) -> str | None:
    func = node.func
    if not isinstance(func, ast.Name):
        return "only registered functions can be called, by bare name"
    if func.id == "var":
        # var('pass') reads a variable whose name is a Python keyword (common in migrated JUEL diagrams).
        arg = node.args[0] if len(node.args) == 1 else None
        if node.keywords or not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
            return "var() takes exactly one string literal naming a variable"
        if arg.value.startswith("_"):
            return f"name '{arg.value}' is not allowed: names starting with '_' are reserved"
        return None
    if func.id not in _FUNCTIONS:
        return f"call of '{func.id}' is not allowed: only registered functions can be called ({', '.join(sorted(_FUNCTIONS))})"
    if node.keywords:
        return "keyword arguments are not allowed in calls"
    return None


def _refusal(node: ast.expr) -> str | None:
    """Return why this one node is refused, or None; children are checked separately."""
    match node:
        case ast.Constant(value=value):
            if value is not None and not isinstance(value, bool | int | float | str):
                return f"literal {value!r} is not allowed"
        case ast.Name(id=name) if name.startswith("_"):
            return f"name '{name}' is not allowed: names starting with '_' are reserved"
        case ast.Attribute(attr=attr):
            return f"attribute access '.{attr}' is not allowed"
        case ast.Dict(keys=keys) if None in keys:
            return "dict unpacking (**) is not allowed"
        case ast.UnaryOp(op=op) | ast.BinOp(op=op) if type(op) in _SYMBOLS:
            return f"operator '{_SYMBOLS[type(op)]}' is not allowed"
        case ast.BinOp(op=ast.Pow(), right=right) if not _small_constant(right):
            return f"'**' needs a constant exponent between -{MAX_EXPONENT} and {MAX_EXPONENT}"
        case ast.Call():
            return _call_refusal(node)
        case ast.Compare(left=left, ops=ops, comparators=rights) if any(
                isinstance(op, ast.Is | ast.IsNot) and not (_singleton(x) or _singleton(y))
                for op, x, y in zip(ops, [left, *rights], rights, strict=False)):
            # Identity of values is an implementation detail (CPython even warns about `x is 1`).
            return "'is' only compares with None, True or False; use '==' for values"
        case (ast.Name() | ast.Tuple() | ast.List() | ast.Set() | ast.Dict() | ast.Compare() | ast.BoolOp()
              | ast.UnaryOp() | ast.BinOp() | ast.Subscript() | ast.Slice() | ast.IfExp()):
            return None
        case _:
            return _REFUSED.get(type(node), f"{type(node).__name__} expressions are not allowed")
    return None


def _parse(expr: str) -> tuple[ast.Expression | None, list[str]]:
    """Parse and whitelist-check a Python-syntax expression; return the tree and the problems found."""
    if not isinstance(expr, str):
        return None, ["expression must be a string"]
    if len(expr) > MAX_LENGTH:
        return None, [f"expression is longer than {MAX_LENGTH} characters"]
    if not expr.strip():
        return None, ["expression is empty"]
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as exc:
        return None, [f"syntax error: {exc.msg} (column {exc.offset})"]
    except (RecursionError, MemoryError):  # CPython's parser gives up on very deep nesting this way
        return None, [f"expression is nested too deeply (more than {MAX_DEPTH} levels)"]
    problems: list[str] = []
    stack: list[tuple[ast.expr, int]] = [(tree.body, 1)]
    while stack:  # iterative, so hostile nesting cannot exhaust the Python stack here
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            problems.append(f"expression is nested too deeply (more than {MAX_DEPTH} levels)")
            break
        if (reason := _refusal(node)) and reason not in problems:
            problems.append(reason)
        children = [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr)]
        stack.extend((child, depth + 1) for child in reversed(children))
    return tree, problems


def check(expr: str) -> list[str]:
    """Statically validate an expression (Python syntax or ${JUEL}); an empty list means it is accepted."""
    if is_juel(expr):
        try:
            translate_juel(expr)
        except ExpressionError as exc:
            return [exc.reason]
        return []
    return _parse(expr)[1]


class _Rewriter(ast.NodeTransformer):
    """Route guarded operators and registered calls to globals the designer cannot name."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        helper = _HELPERS.get(type(node.op))
        if helper is None:
            return node
        return ast.copy_location(ast.Call(ast.Name(helper, ast.Load()), [node.left, node.right], []), node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        assert isinstance(node.func, ast.Name)  # guaranteed by check
        if node.func.id == "var":
            return ast.copy_location(ast.Name(node.args[0].value, ast.Load()), node)
        node.func = ast.copy_location(ast.Name(_FN_PREFIX + node.func.id, ast.Load()), node.func)
        return node


@functools.lru_cache(maxsize=1024)
def _compile(expr: str) -> CodeType:
    source = translate_juel(expr) if is_juel(expr) else expr
    tree, problems = _parse(source)
    if problems or tree is None:
        raise ExpressionError(expr, "; ".join(problems))
    try:
        return compile(ast.fix_missing_locations(_Rewriter().visit(tree)), "<expression>", "eval")
    except SyntaxError as exc:  # a SyntaxWarning after constant folding, escalated by `-W error`
        raise ExpressionError(expr, f"syntax error: {exc.msg}") from None


class _Scope:
    """Eval locals over task data; '_' keys are hidden so helper lookups always reach our globals."""

    __slots__ = ("data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    def __getitem__(self, key: str) -> Any:
        if key.startswith("_"):
            raise KeyError(key)
        return self.data[key]


def evaluate(expr: str, names: Mapping[str, Any]) -> Any:
    """Check, compile (cached) and evaluate expr with names as the only variables; raise ExpressionError."""
    if not isinstance(expr, str):
        raise ExpressionError(repr(expr), "expression must be a string")
    code = _compile(expr)
    try:
        # Safe only because `code` passed the whitelist and was rewritten; builtins are empty.
        return eval(code, _GLOBALS, _Scope(names))
    except ExpressionError as exc:
        raise ExpressionError(expr, exc.reason) from None
    except NameError as exc:
        raise ExpressionError(expr, f"name '{exc.name}' is not defined in task data") from None
    except ZeroDivisionError:
        raise ExpressionError(expr, "division by zero") from None
    except (RecursionError, MemoryError) as exc:
        raise ExpressionError(expr, f"evaluation needs too many resources ({type(exc).__name__})") from None
    except Exception as exc:
        raise ExpressionError(expr, f"{type(exc).__name__}: {exc}") from exc


# ---- JUEL (Activiti / Flowable / Camunda 7) ------------------------------------------------------------------------

# JUEL's reserved words, as the token they stand for (word operators become their symbol).
_JUEL_WORDS = {"true": ("lit", "True"), "false": ("lit", "False"), "null": ("lit", "None"), "instanceof": ("bad", "instanceof"),
               **{word: ("op", op) for word, op in zip("and or not eq ne lt gt le ge div mod empty".split(),
                                                       "&& || ! == != < > <= >= / % empty".split(), strict=True)}}
_JUEL_TOKEN = re.compile(r"""\s+|(?P<str>'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")|(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"""
                         r"""|(?P<name>[^\W\d]\w*)|(?P<op>==|!=|<=|>=|&&|\|\||[-<>!+*/%()?:\[\].,])""")
_JUEL_BAD_CHARS = {**dict.fromkeys("'\"", "unterminated string literal"),
                   **dict.fromkeys("{}$#", "composite or nested ${...} expressions are not supported")}
# JUEL binary levels, loosest first, with the Python precedence of the emitted operator (higher binds tighter).
_JUEL_LEVELS = [(("||",), 2), (("&&",), 3), (("==", "!="), 5), (("<", ">", "<=", ">="), 5), (("+", "-"), 6),
                (("*", "/", "%"), 7)]
_PY_OPS = {"&&": "and", "||": "or"}
_JUEL_MAX_NESTING = 40  # each level costs ~10 Python frames in the recursive-descent parser
_ATOM = 9
Token = tuple[str, str]
Node = tuple[str, int]  # emitted Python text and its precedence


def is_juel(expr: str) -> bool:
    """Tell whether expr is a JUEL expression wrapped in ${...} or #{...}."""
    text = expr.strip() if isinstance(expr, str) else ""
    return text.startswith(("${", "#{")) and text.endswith("}")


def _juel_tokens(src: str, expr: str) -> list[Token]:
    """Split the inside of ${...} into tokens, scanning left to right so operators inside strings stay text."""
    tokens: list[Token] = []
    i = 0
    while i < len(src):
        if (match := _JUEL_TOKEN.match(src, i)) is None:
            ch = src[i]
            why = _JUEL_BAD_CHARS.get(ch, "unsupported character")
            raise ExpressionError(expr, f"unexpected {ch!r} at position {i}: {why}")
        i, kind, text = match.end(), match.lastgroup, match.group()
        if kind == "str":  # JUEL's only escapes are \' \" and \\; any other backslash is literal
            tokens.append(("lit", repr(re.sub(r"\\([\\'\"])", r"\1", text[1:-1]))))
        elif kind == "num":
            tokens.append(("lit", repr(int(text) if text.isdigit() else float(text))))
        elif kind == "name":
            tokens.append(_JUEL_WORDS.get(text, ("name", text)))
        elif kind == "op":
            tokens.append(("op", text))
    return tokens + [("end", "")]


def _wrap(node: Node, min_prec: int) -> str:
    return node[0] if node[1] >= min_prec else f"({node[0]})"


class _JuelParser:
    """Recursive-descent JUEL parser that emits equivalent safe-language source."""

    def __init__(self, tokens: list[Token], expr: str) -> None:
        self.tokens, self.expr, self.pos, self.depth = tokens, expr, 0, 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def accept(self, *ops: str) -> str | None:
        kind, value = self.peek()
        if kind == "op" and value in ops:
            self.pos += 1
            return value
        return None

    def expect(self, op: str) -> None:
        if not self.accept(op):
            raise self.unexpected()

    def fail(self, reason: str) -> ExpressionError:
        return ExpressionError(self.expr, reason)

    def unexpected(self) -> ExpressionError:
        kind, value = self.peek()
        if kind == "bad":
            return self.fail(f"'{value}' is not supported")
        return self.fail("unexpected end of expression" if kind == "end" else f"unexpected '{value}'")

    def nest(self, delta: int) -> None:
        self.depth += delta
        if self.depth > _JUEL_MAX_NESTING:
            raise self.fail(f"expression is nested too deeply (more than {_JUEL_MAX_NESTING} levels)")

    def ternary(self) -> Node:
        self.nest(1)
        node = self.binary(0)
        if self.accept("?"):
            yes = self.ternary()
            self.expect(":")
            no = self.ternary()
            node = (f"{_wrap(yes, 2)} if {_wrap(node, 2)} else {_wrap(no, 2)}", 1)
        self.nest(-1)
        return node

    def binary(self, level: int) -> Node:
        if level == len(_JUEL_LEVELS):
            return self.unary()
        ops, prec = _JUEL_LEVELS[level]
        left = self.binary(level + 1)
        while op := self.accept(*ops):
            right = self.binary(level + 1)
            # Python chains comparisons (a < b == c), JUEL does not: parenthesise equal-precedence comparisons.
            left_text = _wrap(left, prec + 1 if prec == 5 else prec)
            left = (f"{left_text} {_PY_OPS.get(op, op)} {_wrap(right, prec + 1)}", prec)
        return left

    def unary(self) -> Node:
        op = self.accept("!", "-", "empty")
        if op is None:
            return self.postfix()
        self.nest(1)
        operand = self.unary()
        self.nest(-1)
        if op == "empty":
            return f"is_empty({operand[0]})", _ATOM
        if op == "!":
            return f"not {_wrap(operand, 4)}", 4
        return f"-{_wrap(operand, 8)}", 8

    def postfix(self) -> Node:
        node = self.primary()
        while True:
            if self.accept("["):
                index = self.ternary()
                self.expect("]")
                node = (f"{_wrap(node, _ATOM)}[{index[0]}]", _ATOM)
            elif self.accept("."):
                kind, attr = self.peek()
                if self.peek(1) == ("op", "("):
                    raise self.fail(f"method call '{node[0]}.{attr}(...)' is not supported")
                raise self.fail(f"property access '{node[0]}.{attr}' is not supported")
            elif self.peek() == ("op", "("):
                raise self.fail(f"function call '{node[0]}(...)' is not supported")
            else:
                return node

    def primary(self) -> Node:
        kind, value = self.peek()
        if kind == "lit":
            self.pos += 1
            return value, _ATOM
        if kind == "name":
            self.pos += 1
            if self.peek() == ("op", ":") and self.peek(1)[0] == "name" and self.peek(2) == ("op", "("):
                raise self.fail(f"prefixed function '{value}:{self.peek(1)[1]}(...)' is not supported")
            # A JUEL variable may be called 'pass' or 'class'; var('...') reads it without a syntax error.
            return (f"var({value!r})" if keyword.iskeyword(value) else value), _ATOM
        if self.accept("("):
            node = self.ternary()  # precedence-aware wrapping re-adds the parentheses that matter
            self.expect(")")
            return node
        raise self.unexpected()


@functools.lru_cache(maxsize=1024)
def translate_juel(expr: str) -> str:
    """Translate a ${...}/#{...} JUEL condition into the safe expression language; raise ExpressionError."""
    if not is_juel(expr):
        raise ExpressionError(str(expr), "not a JUEL expression: expected ${...} or #{...}")
    if len(expr) > MAX_LENGTH:
        raise ExpressionError(expr, f"expression is longer than {MAX_LENGTH} characters")
    text = expr.strip()
    parser = _JuelParser(_juel_tokens(text[2:-1], expr), expr)
    try:
        node = parser.ternary()
    except RecursionError:
        raise ExpressionError(expr, "expression is nested too deeply") from None
    if parser.peek()[0] != "end":
        raise parser.unexpected()
    if problems := _parse(node[0])[1]:
        raise ExpressionError(expr, "; ".join(problems))
    return node[0]


# ---- SpiffWorkflow integration ---------------------------------------------------------------------------------------

class SafeEnvironment(BasePythonScriptEngineEnvironment):
    """Spiff environment: expressions use the safe language, scripts are refused."""

    def evaluate(self, expression: str, context: Mapping[str, Any], external_context: Mapping[str, Any] | None = None) -> Any:
        """Evaluate with task data first, then external context (data objects, DMN input) as names."""
        names = ChainMap(context, external_context) if external_context else context  # type: ignore[arg-type]
        return evaluate(expression, names)

    def execute(self, script: str, context: Any, external_context: Any = None) -> Any:
        """Refuse: arbitrary Python must never run inside OneWindow."""
        raise ExpressionError(script, SCRIPTS_REFUSED)


class SafeScriptEngine(PythonScriptEngine):
    """PythonScriptEngine whose evaluations go through `evaluate` and which refuses every script."""

    def __init__(self) -> None:
        super().__init__(environment=SafeEnvironment())

    def evaluate(self, task: Any, expression: str, external_context: Mapping[str, Any] | None = None) -> Any:
        """Evaluate a gateway/MI/timer/conditional expression against the task's data."""
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except ExpressionError as exc:
            # Spiff callers expect WorkflowTaskException; keep our reason in its message.
            raise WorkflowTaskException(f"Error evaluating expression '{expression}': {exc.reason}",
                                        task=task, exception=exc) from exc

    def execute(self, task: Any, script: str, external_context: Mapping[str, Any] | None = None) -> Any:
        """Refuse script tasks and pre/post scripts with a WorkflowTaskException."""
        raise WorkflowTaskException(SCRIPTS_REFUSED, task=task, exception=ExpressionError(script, SCRIPTS_REFUSED))

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        """Refuse service calls routed through the script engine."""
        reason = "service calls from the script engine are not allowed"
        raise WorkflowTaskException(reason, task=task, exception=ExpressionError("", reason))
