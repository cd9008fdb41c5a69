"""Code links of the question bank (`path/to/file.py::Class.method`, `file.cu::kernel`):
checked to exist without importing anything (ast for Python, a regex for CUDA C), and cut out
as snippets for `dojo questions show`. A symbol whose body has fewer than MIN_LINES lines of
code is refused (a one-line wrapper or a constant rarely shows the point; its docstring and
comments do not count) unless the link ends in `!`, which says the short span is the lesson
(a two-line padding formula). A link may carry a note after
` -- ` (shown above its snippet); a Python symbol that syncs the host inside a loop needs one,
so code that shows the opposite of a lesson about syncs says so."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

from grader.runtime.paths import ROOT

CODE_ROOTS = ("problems", "reference", "solutions", "engine", "grader")
C_LIKE = (".cu", ".cuh", ".c", ".cc", ".cpp", ".h", ".hpp")  # symbols found by regex, not ast
MIN_LINES = 3  # lines of code in the body: docstring, comments and blank lines do not count
SHORT_OK = "!"
NOTE = " -- "  # "path::symbol -- what this code shows, or how it differs from the lesson"
SYNCS = ("item", "tolist", "cpu", "numpy")  # tensor methods that wait for the device


class CodeLinkError(ValueError):
    """A link that is not `path::symbol`; str() is the one line shown to the user."""


def split_note(entry: str) -> tuple[str, str]:
    """(link, note) of a `code` entry; the note is "" when there is none."""
    link, _, note = entry.partition(NOTE)
    return link.strip(), note.strip()


def split_link(link: str) -> tuple[str, str]:
    path, sep, symbol = split_note(link)[0].removesuffix(SHORT_OK).partition("::")
    if not sep or not path or not symbol:
        raise CodeLinkError(f"code link '{link}' must look like 'path/to/file.py::symbol'")
    return path, symbol


def check_code_link(entry: str, root: Path = ROOT, min_lines: int = MIN_LINES) -> str | None:
    """None when the file exists under an allowed folder and defines the symbol (long enough,
    and with a note if it syncs the host in a loop), else why not."""
    link, note = split_note(entry)
    if NOTE.strip() in entry and not note:
        return f"code link '{entry}' has an empty note after '{NOTE.strip()}'"
    found = locate(link, root)
    if isinstance(found, str):
        return found
    file, span = found
    lines = code_lines(file, split_link(link)[1], span)
    if lines < min_lines and not link.endswith(SHORT_OK):
        return (
            f"code link '{link}' shows only {lines} line(s) of code: link the code that makes"
            f" the point, or end the link in '{SHORT_OK}' if the short span is the point"
        )
    sync = None if note or file.suffix in C_LIKE else _sync_in_loop(file, span)
    if sync is not None:
        return (
            f"code link '{link}' syncs the host inside a loop (line {sync}): add a note"
            f" ('{link}{NOTE}...') saying whether that is the lesson or its opposite"
        )
    return None


def locate(link: str, root: Path = ROOT) -> tuple[Path, tuple[int, int]] | str:
    """(file, (first, last) line) of a link's symbol, or the one line saying why not."""
    try:
        path, symbol = split_link(link)
    except CodeLinkError as e:
        return str(e)
    parts = Path(path).parts
    if Path(path).is_absolute() or ".." in parts or parts[0] not in CODE_ROOTS:
        return f"code link '{link}' must point into {', '.join(r + '/' for r in CODE_ROOTS)}"
    if not path.endswith((".py", *C_LIKE)):
        return f"code link '{link}' must name a Python or CUDA/C++ source file"
    file = root / path
    if not file.is_file():
        return f"code link '{link}': no file {path}"
    try:
        span = find_symbol(file, symbol)
    except SyntaxError as e:
        return f"code link '{link}': {path} does not parse (line {e.lineno})"
    return (file, span) if span else f"code link '{link}': {path} defines no '{symbol}'"


def _sync_in_loop(file: Path, span: tuple[int, int]) -> int | None:
    """The first line in span where a for/while body calls .item()/.tolist()/.cpu()/.numpy(),
    or int()/float()/bool() of a multi-indexed or computed tensor: a device-to-host wait per
    iteration. None when there is none."""
    for loop in ast.walk(_parse(file)):
        if not isinstance(loop, (ast.For, ast.While)) or not span[0] <= loop.lineno <= span[1]:
            continue
        for node in (n for stmt in loop.body for n in ast.walk(stmt)):
            if isinstance(node, ast.Call) and _waits(node):
                return node.lineno
    return None


def _waits(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr in SYNCS and not call.args
    if isinstance(func, ast.Name) and func.id in ("int", "float", "bool") and len(call.args) == 1:
        arg = call.args[0]  # t[b, i] or t.any(): a tensor; v[i] may be a list, not flagged
        multi_index = isinstance(arg, ast.Subscript) and isinstance(arg.slice, ast.Tuple)
        return multi_index or (isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute))
    return False


def find_symbol(file: Path, symbol: str) -> tuple[int, int] | None:
    """(first, last) line of the symbol's definition, 1-based, or None. Python via ast
    (`name` or `Class.method`, decorators included); CUDA/C++ by a regex for a definition."""
    if file.suffix in C_LIKE:
        return _c_symbol(_read(file), symbol)
    node = _node(file, symbol)
    if node is None:
        return None
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return first, node.end_lineno or node.lineno


def _node(file: Path, symbol: str) -> ast.stmt | None:
    body: list[ast.stmt] = _parse(file).body
    node: ast.stmt | None = None
    for part in symbol.split("."):
        node = next((n for n in body if part in _names(n)), None)
        if node is None:
            return None
        body = getattr(node, "body", [])
    return node


def code_lines(file: Path, symbol: str, span: tuple[int, int]) -> int:
    """Lines of code in the symbol's body: not its signature, decorators or docstring, not
    comments or blank lines (a constant counts its own lines). A one-line wrapper has 1."""
    if file.suffix in C_LIKE:
        code = _COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), _read(file))
        text = "\n".join(code.splitlines()[span[0] - 1 : span[1]])
        body = text[text.find("{") + 1 : text.rfind("}")]
        return sum(1 for line in body.splitlines() if line.strip())
    node = _node(file, symbol)
    assert node is not None
    stmts = getattr(node, "body", [node])
    first = stmts[0] if stmts else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        stmts = stmts[1:]  # the docstring
    source = _read(file).splitlines()
    rows = {i for s in stmts for i in range(s.lineno, (s.end_lineno or s.lineno) + 1)}
    return sum(1 for i in rows if source[i - 1].strip() and not source[i - 1].strip()[0] == "#")


def _names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    return set()


@cache
def _read(file: Path) -> str:
    return file.read_text(encoding="utf-8")


@cache
def _parse(file: Path) -> ast.Module:
    return ast.parse(_read(file), filename=str(file))


_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


def _c_symbol(text: str, name: str) -> tuple[int, int] | None:
    """A definition is `name(` + parameters (no ; { }, parentheses nested one level at most) +
    `{`: calls and prototypes end in `;`, a call inside `if (...) {` has a `)` before the brace."""
    code = _COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)  # keeps offsets
    params = r"\((?:[^;{}()]|\([^;{}()]*\))*\)"  # one level of nesting: float (&d)[4]
    m = re.search(rf"\b{re.escape(name)}\s*{params}[^;{{}}()]*\{{", code)
    if m is None:
        return None
    depth, end = 0, len(code)
    for i in range(m.end() - 1, len(code)):
        depth += {"{": 1, "}": -1}.get(code[i], 0)
        if depth == 0:
            end = i
            break
    first = code.count("\n", 0, m.start()) + 1
    lines = code.splitlines()
    while first > 1 and lines[first - 2].strip() and lines[first - 2].rstrip()[-1] not in ";{}":
        first -= 1  # a return type or qualifiers on the line(s) above the name
    return first, code.count("\n", 0, end) + 1


def snippet(link: str, root: Path = ROOT, max_lines: int = 60) -> tuple[str, int, str] | None:
    """(path, first line, source) of a code link, cut at max_lines; None when it is missing."""
    found = locate(split_note(link)[0], root)
    if isinstance(found, str):
        return None
    file, span = found
    path = split_link(link)[0]
    lines = _read(file).splitlines()[span[0] - 1 : span[1]]
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f"... ({span[1] - span[0] + 1 - max_lines} more lines)"]
    return path, span[0], "\n".join(lines)


# --- browsing ---------------------------------------------------------------------------------
