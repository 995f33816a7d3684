"""Indicators computed from other indicators: ``profit / shipments``,
``0.6 * revenue_growth + 0.4 * margin_growth``, ``max(0, 1 - complaints / 50)``.

Parsed with ``ast`` against a whitelist, never ``eval``: numbers, indicator codes,
``+ - * /``, unary minus, parentheses and ``min``, ``max``, ``abs``. Nothing else parses
(no attributes, subscripts, powers, comparisons, strings, keywords). A divisor that is a
constant 0 is refused when the formula is saved; at evaluation, a division by zero makes
the value undefined (``DivisionByZero``), not 0. Formulas over formulas are evaluated in
dependency order; a cycle is refused, naming it. The same evaluator works on floats and on
numpy arrays (the bulk recompute): there, a division by zero gives NaN in that row.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 500
MAX_NODES = 200
CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
FUNCTIONS: dict[str, Callable[..., Any]] = {"min": min, "max": max, "abs": abs}


class FormulaError(ValueError):
    def __init__(self, message: str, *, field: str = "formula") -> None:
        super().__init__(message)
        self.field, self.message = field, message


class DivisionByZero(FormulaError):
    pass


@dataclass(frozen=True)
class Formula:
    text: str
    tree: ast.expr
    names: frozenset[str]


_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div)


def _constant(node: ast.expr) -> float | None:
    """The value of a subtree without names, or None."""
    try:
        return float(_eval(node, {}, scalar=True))
    except (KeyError, FormulaError, ValueError, TypeError):
        return None


def _check(node: ast.AST, names: set[str], count: list[int]) -> None:
    count[0] += 1
    if count[0] > MAX_NODES:
        raise FormulaError(f"The formula is too long (more than {MAX_NODES} parts).")
    if isinstance(node, ast.Expression):
        _check(node.body, names, count)
    elif isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise FormulaError(f"Only numbers are allowed, not {node.value!r}.")
    elif isinstance(node, ast.Name):
        if not CODE.match(node.id) or node.id in FUNCTIONS:
            raise FormulaError(f"{node.id!r} is not an indicator code.")
        names.add(node.id)
    elif isinstance(node, ast.BinOp):
        if not isinstance(node.op, _BINOPS):
            raise FormulaError(
                f"The operator {type(node.op).__name__} is not allowed; use + - * /."
            )
        _check(node.left, names, count)
        _check(node.right, names, count)
        if isinstance(node.op, ast.Div) and _constant(node.right) == 0.0:
            raise DivisionByZero(f"Division by zero: {ast.unparse(node)}.")
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.USub | ast.UAdd):
            raise FormulaError("Only a leading minus or plus is allowed.")
        _check(node.operand, names, count)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise FormulaError(f"Only the functions {', '.join(FUNCTIONS)} are allowed.")
        if node.keywords or not node.args or (node.func.id == "abs" and len(node.args) != 1):
            raise FormulaError(f"{node.func.id}() takes numbers only, {node.func.id}(a, b...).")
        for arg in node.args:
            _check(arg, names, count)
    else:
        raise FormulaError(f"{type(node).__name__} is not allowed in a formula.")


def parse(text: str) -> Formula:
    if not text or not text.strip():
        raise FormulaError("The formula is empty.")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"The formula is longer than {MAX_LENGTH} characters.")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"Not a formula: {exc.msg} (column {exc.offset}).") from exc
    names: set[str] = set()
    _check(tree, names, [0])
    return Formula(text.strip(), tree.body, frozenset(names))


def _eval(node: ast.expr, values: Mapping[str, Any], *, scalar: bool) -> Any:
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, int | float) or isinstance(node.value, bool):
            raise FormulaError(f"Only numbers are allowed, not {node.value!r}.")
        return float(node.value)
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.UnaryOp):
        inner = _eval(node.operand, values, scalar=scalar)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        left = _eval(node.left, values, scalar=scalar)
        right = _eval(node.right, values, scalar=scalar)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if scalar:
            if right == 0:
                raise DivisionByZero(f"Division by zero in {ast.unparse(node)}.")
            return left / right
        import numpy as np

        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.where(right == 0, np.nan, left / np.where(right == 0, 1.0, right))
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        args = [_eval(a, values, scalar=scalar) for a in node.args]
        if scalar:
            return FUNCTIONS[node.func.id](*args)
        import numpy as np

        if node.func.id == "abs":
            return np.abs(args[0])
        fold = np.minimum if node.func.id == "min" else np.maximum
        out = args[0]
        for arg in args[1:]:
            out = fold(out, arg)
        return out
    raise FormulaError(f"{type(node).__name__} is not allowed in a formula.")


def evaluate(formula: Formula, values: Mapping[str, float]) -> float:
    """The formula's value; ``KeyError`` for an indicator without a value,
    ``DivisionByZero`` for a zero divisor."""
    missing = formula.names - values.keys()
    if missing:
        raise KeyError(sorted(missing)[0])
    return float(_eval(formula.tree, values, scalar=True))


def evaluate_array(formula: Formula, values: Mapping[str, Any]) -> Any:
    """The formula over numpy columns (one row per person); NaN where a divisor is 0."""
    return _eval(formula.tree, values, scalar=False)


def order(formulas: Mapping[str, Formula]) -> list[str]:
    """The codes of ``formulas`` so that each comes after the formulas it uses; a cycle
    raises ``FormulaError`` naming it (``a -> b -> a``)."""
    done: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(code: str, path: list[str]) -> None:
        if state.get(code) == 2:
            return
        if state.get(code) == 1:
            cycle = [*path[path.index(code) :], code]
            raise FormulaError(f"Circular formulas: {' -> '.join(cycle)}.")
        state[code] = 1
        for name in sorted(formulas[code].names):
            if name in formulas:
                visit(name, [*path, code])
        state[code] = 2
        done.append(code)

    for code in sorted(formulas):
        visit(code, [])
    return done


def evaluate_all(
    formulas: Mapping[str, Formula], values: Mapping[str, float]
) -> tuple[dict[str, float], dict[str, str]]:
    """Every formula's value over ``values`` (and over each other): (values, why each
    formula without a value has none)."""
    out = dict(values)
    undefined: dict[str, str] = {}
    for code in order(formulas):
        try:
            out[code] = evaluate(formulas[code], out)
        except KeyError as exc:
            undefined[code] = f"no value yet for {exc.args[0]}"
        except DivisionByZero as exc:
            undefined[code] = exc.message
    return out, undefined
