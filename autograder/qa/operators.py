"""Where a mutant can be made, and what it becomes (the operators of ``autograder.qa.mutate``): one
visit of a solution cell's syntax tree collects every site."""

from __future__ import annotations

import ast
import re
from collections import Counter

MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
BOUNDARY = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}
NEGATE = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.LtE: ast.Gt, ast.Gt: ast.LtE,
          ast.GtE: ast.Lt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
ARITH = {ast.Add: [ast.Sub], ast.Sub: [ast.Add], ast.Mult: [ast.Add], ast.Div: [ast.FloorDiv],
         ast.FloorDiv: [ast.Div], ast.Mod: [ast.FloorDiv], ast.Pow: [ast.Mult]}
COPY_CALLS = {"list", "dict", "set"}
COPY_METHODS = {"copy", "clone"}
WRONG_TYPE = {"int": "float", "float": "int", "list": "tuple", "tuple": "list", "bool": "int"}
INPLACE_METHODS = {"add", "sub", "mul", "div", "clamp", "neg", "abs", "exp", "sqrt", "pow", "fill", "zero",
                   "masked_fill", "addcmul", "addcdiv"}
TOLERANCE = 1e-6  # a float constant at most this big, added to one side of a comparison, is a tolerance


def solution_lines(source: str) -> set[int]:
    """1-based line numbers inside ``### BEGIN/END SOLUTION`` regions (markers excluded)."""
    inside, lines = False, set()
    for n, line in enumerate(source.splitlines(), 1):
        m = MARKER.match(line)
        if m:
            inside = m.group(1) == "BEGIN"
        elif inside:
            lines.add(n)
    return lines


def _offsets(source: str) -> list[int]:
    """Character offset of the start of each line (index 0 is line 1)."""
    starts, pos = [], 0
    for line in source.splitlines(keepends=True):
        starts.append(pos)
        pos += len(line)
    starts.append(pos)
    return starts


class _Sites(ast.NodeVisitor):
    """Collects (node, operator, replacement text) for every mutation site."""

    def __init__(self, source: str, test_values: dict[str, dict[str, Counter]] | None = None):
        self.source = source
        self.sites: list[tuple[ast.AST, str, str]] = []
        self.func: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
        self.slice_consts: set[int] = set()
        self.test_values = test_values or {}  # function name -> {"#i" or keyword: values the tests pass}
        # whole-cell edits (several spans): (first line, last line, operator, old, new, the cell's new text)
        self.texts: list[tuple[int, int, str, str, str, str]] = []
        self.starts = _offsets(source)
        self.lines = source.splitlines()
        self.region = solution_lines(source)

    def params(self) -> list[str]:
        func = self.func[-1] if self.func else None
        if func is None:
            return []
        return [a.arg for a in func.args.posonlyargs + func.args.args + func.args.kwonlyargs
                if a.arg not in ("self", "cls")]

    def mutable_params(self) -> list[str]:
        """Parameters that may be changed in place: not annotated as an immutable type (on an int,
        ``p += 1`` rebinds a local, which no caller can see: an equivalent mutant)."""
        func = self.func[-1] if self.func else None
        if func is None:
            return []
        immutable = {"int", "float", "str", "bool", "bytes", "complex", "tuple", "frozenset"}
        out = []
        for a in func.args.posonlyargs + func.args.args + func.args.kwonlyargs:
            ann = a.annotation
            base = ann.id if isinstance(ann, ast.Name) else ann.value.id if isinstance(ann, ast.Subscript) \
                and isinstance(ann.value, ast.Name) else None
            if a.arg not in ("self", "cls") and base not in immutable:
                out.append(a.arg)
        return out

    def offset(self, line: int, col: int) -> int:
        return self.starts[line - 1] + col

    def seg(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ast.unparse(node)

    def add(self, node: ast.AST, operator: str, new: str) -> None:
        self.sites.append((node, operator, new))

    # ---- functions (for return-input / return-type) -------------------------------------
    def visit_FunctionDef(self, node):
        self.func.append(node)
        first = next((st for st in node.body if st.lineno in self.region), None)
        if first is not None:
            indent = " " * first.col_offset
            per = self.test_values.get(node.name, {})
            for i, param in enumerate(self.params()):
                seen = per.get(f"#{i}", Counter()) + per.get(param, Counter())
                if seen and seen.most_common(1)[0][1] >= 2:
                    value = seen.most_common(1)[0][0]
                    self.add(first, "param-fixed", f"{param} = {value!r}  # ignores the argument\n{indent}"
                             f"{self.seg(first)}")
            if len(self.func) == 1 and node.col_offset == 0 and len(self.params()) >= 2:
                self._memo(node, first, indent)
        self.generic_visit(node)
        self.func.pop()

    def _memo(self, node, first, indent: str) -> None:
        """memo-first-arg: results kept on the function, keyed on its first argument only."""
        returns = [r for r in _own_returns(node) if r.value is not None and r.lineno in self.region]
        if not returns:
            return
        edits = []
        for r in returns:
            a = self.offset(r.value.lineno, r.value.col_offset)
            b = self.offset(r.value.end_lineno, r.value.end_col_offset)
            edits.append((a, b, f"_memo.setdefault(_key, ({self.source[a:b]}))"))
        a = self.offset(first.lineno, first.col_offset)
        guard = (f"_memo = {node.name}.__dict__.setdefault('_memo', {{}})  # kept between calls\n{indent}"
                 f"_key = repr({self.params()[0]})  # ... keyed on the first argument only\n{indent}"
                 f"if _key in _memo:\n{indent}    return _memo[_key]\n{indent}")
        edits.append((a, a, guard))
        text = self.source
        for a, b, new in sorted(edits, reverse=True):
            text = text[:a] + new + text[b:]
        self.texts.append((first.lineno, first.lineno, "memo-first-arg", node.name, f"cached on {self.params()[0]}",
                           text))

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        self.func.append(None)  # a return inside a lambda is not a return statement
        self.generic_visit(node)
        self.func.pop()

    # ---- expressions ------------------------------------------------------------------
    def visit_Compare(self, node):
        for i, op in enumerate(node.ops):
            for name, table in (("compare-boundary", BOUNDARY), ("compare-flip", NEGATE)):
                if type(op) in table:
                    ops = list(node.ops)
                    ops[i] = table[type(op)]()
                    self.add(node, name, ast.unparse(ast.Compare(node.left, ops, node.comparators)))
        operands = [node.left] + list(node.comparators)
        for i, side in enumerate(operands):
            kept = _without_tolerance(side)
            if kept is not None:
                new = list(operands)
                new[i] = kept
                self.add(node, "drop-rounding", ast.unparse(ast.Compare(new[0], node.ops, new[1:])))
        left = node.left
        if len(node.ops) == 1 and type(node.ops[0]) in (ast.Lt, ast.LtE) and isinstance(left, ast.Call) \
                and isinstance(left.func, ast.Name) and left.func.id == "abs" and len(left.args) == 1 \
                and isinstance(left.args[0], ast.BinOp) and isinstance(left.args[0].op, ast.Sub):
            diff = left.args[0]
            self.add(node, "drop-rounding", f"({self.seg(diff.left)}) == ({self.seg(diff.right)})")
        self.generic_visit(node)

    def visit_BinOp(self, node):
        for new_op in ARITH.get(type(node.op), []):
            self.add(node, "arithmetic", ast.unparse(ast.BinOp(node.left, new_op(), node.right)))
        self.generic_visit(node)

    def visit_UnaryOp(self, node):
        if isinstance(node.op, ast.USub) and not isinstance(node.operand, ast.Constant):
            self.add(node, "arithmetic", self.seg(node.operand) if isinstance(node.operand, (ast.Name, ast.Attribute,
                                                                                           ast.Call, ast.Subscript))
                     else f"({self.seg(node.operand)})")
        elif isinstance(node.op, ast.Not):
            self.add(node, "boolean", f"({self.seg(node.operand)})")
        self.generic_visit(node)

    def visit_BoolOp(self, node):
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        self.add(node, "boolean", ast.unparse(ast.BoolOp(other, node.values)))
        self.generic_visit(node)

    def visit_Constant(self, node):
        v = node.value
        if id(node) in self.slice_consts or isinstance(v, bool):
            return
        if isinstance(v, int):
            self.add(node, "constant", repr(v + 1))
            self.add(node, "constant", repr(v - 1) if v - 1 >= 0 else f"({v - 1})")
        elif isinstance(v, float):
            self.add(node, "constant", repr(v + 1.0))

    def visit_Slice(self, node):
        for part in ("lower", "upper"):
            bound = getattr(node, part)
            if bound is not None:
                text = self.seg(bound)
                self.add(bound, "slice", f"({text}) + 1")
                self.add(bound, "slice", f"({text}) - 1")
                if isinstance(bound, ast.Constant):
                    self.slice_consts.add(id(bound))
        self.generic_visit(node)

    def visit_Subscript(self, node):
        s = node.slice
        if isinstance(s, ast.Slice) and s.lower is None and s.upper is None and s.step is None:
            self.add(node, "skip-copy", self.seg(node.value))
        self.generic_visit(node)

    def visit_Call(self, node):
        f = node.func
        if isinstance(f, ast.Name) and f.id in ("sorted", "reversed", "round") and node.args \
                and (f.id == "round" or len(node.args) == 1):
            self.add(node, "drop-sort" if f.id != "round" else "drop-rounding", self.seg(node.args[0]))
        elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and len(node.args) >= 2 and (
                (f.value.id == "math" and f.attr == "isclose") or (f.value.id in ("torch", "np", "numpy")
                                                                  and f.attr == "allclose")):
            a, b = (self.seg(x) for x in node.args[:2])
            self.add(node, "drop-rounding", f"({a}) == ({b})" if f.value.id == "math" else
                     f"{f.value.id}.{'equal' if f.value.id == 'torch' else 'array_equal'}({a}, {b})")
        elif isinstance(f, ast.Attribute) and f.attr in INPLACE_METHODS and isinstance(f.value, ast.Name) \
                and f.value.id in self.mutable_params():
            text = self.seg(node)
            self.add(node, "in-place-arg", text.replace(f".{f.attr}(", f".{f.attr}_(", 1))
        if isinstance(f, ast.Name) and f.id in COPY_CALLS and len(node.args) == 1 and not node.keywords \
                and not isinstance(node.args[0], (ast.GeneratorExp, ast.ListComp, ast.SetComp, ast.DictComp)):
            self.add(node, "skip-copy", self.seg(node.args[0]))
        elif isinstance(f, ast.Attribute) and f.attr in COPY_METHODS and not node.args and not node.keywords:
            self.add(node, "skip-copy", self.seg(f.value))
        elif isinstance(f, ast.Attribute) and f.attr in ("copy", "deepcopy") and isinstance(f.value, ast.Name) \
                and f.value.id == "copy" and len(node.args) == 1:
            self.add(node, "skip-copy", self.seg(node.args[0]))
        self.generic_visit(node)

    # ---- statements -------------------------------------------------------------------
    def _delete(self, node):
        self.add(node, "delete", "pass")

    def visit_Assign(self, node):
        self._delete(node)
        v = node.value
        if isinstance(v, ast.BinOp) and isinstance(v.left, ast.Name) and v.left.id in self.mutable_params() \
                and type(v.op) in (ast.Add, ast.Sub, ast.Mult, ast.Div) and len(node.targets) == 1:
            op = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}[type(v.op)]
            p = v.left.id
            self.add(node, "in-place-arg", f"{p} {op}= {self.seg(v.right)}; {self.seg(node.targets[0])} = {p}")
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._delete(node)
        for new_op in ARITH.get(type(node.op), []):
            self.add(node, "arithmetic", ast.unparse(ast.AugAssign(node.target, new_op(), node.value)))
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        if node.value is not None:
            self._delete(node)
        self.generic_visit(node)

    def visit_Expr(self, node):
        if isinstance(node.value, ast.Call):
            self._delete(node)
        self.generic_visit(node)

    def visit_Raise(self, node):
        self._delete(node)
        self.generic_visit(node)

    def visit_Delete(self, node):
        self._delete(node)
        self.generic_visit(node)

    def visit_Break(self, node):
        self.add(node, "loop-control", "continue")

    def visit_Continue(self, node):
        self.add(node, "loop-control", "break")

    def visit_For(self, node):
        inner = node.body[0] if len(node.body) == 1 else None
        if isinstance(inner, ast.For) and not node.orelse and not inner.orelse:
            a = self.offset(node.lineno, node.col_offset)
            b = self.offset(node.end_lineno, node.end_col_offset)
            oa, ob = a, self._header_end(node)
            ia, ib = self.offset(inner.lineno, inner.col_offset), self._header_end(inner)
            src = self.source
            self.add(node, "swap-loops", src[ia:ib] + src[ob:ia] + src[oa:ob] + src[ib:b])
        self.generic_visit(node)

    def _header_end(self, node) -> int:
        """The offset just after a ``for`` statement's colon."""
        end = self.offset(node.iter.end_lineno, node.iter.end_col_offset)
        return self.source.index(":", end) + 1

    def visit_If(self, node):
        self._negate_test(node)
        self.generic_visit(node)

    def visit_While(self, node):
        self._negate_test(node)
        self.generic_visit(node)

    def _negate_test(self, node):
        if not isinstance(node.test, (ast.Compare, ast.BoolOp, ast.UnaryOp)):  # those have their own operators
            self.add(node.test, "boolean", f"not ({self.seg(node.test)})")

    def visit_Return(self, node):
        func = self.func[-1] if self.func else None
        if node.value is not None and func is not None:
            value = self.seg(node.value)
            if isinstance(node.value, ast.Tuple) and not value.startswith("("):
                value = f"({value})"
            self.add(node.value, "delete", "None")
            params = [a.arg for a in func.args.posonlyargs + func.args.args if a.arg not in ("self", "cls")]
            if params and value != params[0]:
                self.add(node.value, "return-input", params[0])
            ann = func.returns
            base = ann.id if isinstance(ann, ast.Name) else (ann.value.id if isinstance(ann, ast.Subscript) and
                                                             isinstance(ann.value, ast.Name) else None)
            if base in WRONG_TYPE:
                self.add(node.value, "return-type", f"{WRONG_TYPE[base]}({value})")
            elif base == "dict":
                self.add(node.value, "return-type", f"list(({value}).items())")
        self.generic_visit(node)


def _own_returns(func) -> list[ast.Return]:
    """The return statements of ``func`` itself (not of functions or lambdas inside it)."""
    out, todo = [], list(func.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(node, ast.Return):
            out.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return out


def _without_tolerance(side: ast.AST) -> ast.AST | None:
    """``x + 1e-9`` (or ``x - eps`` with a tiny float constant): ``x``; anything else: None."""
    if isinstance(side, ast.BinOp) and type(side.op) in (ast.Add, ast.Sub):
        for const, other in ((side.right, side.left), (side.left, side.right)):
            if isinstance(const, ast.Constant) and type(const.value) is float and 0 < abs(const.value) <= TOLERANCE:
                return other
    return None
