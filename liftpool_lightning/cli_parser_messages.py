"""Reading jsonargparse's error messages: the option, the value and what would have been accepted, in one or two lines.

This is the one module that depends on jsonargparse's wording (its union dumps, ``Parser key``, ``Option ... is not
accepted``, ``Expected a ...``); ``pyproject.toml`` bounds jsonargparse to the versions whose messages were recorded
in ``tests/cli/parser_messages.json``, and the tests read those recorded messages (and check that the installed
jsonargparse still words them so). A message it cannot read is shown compactly rather than lost.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from liftpool_lightning.cli_errors import PREFIX, config_paths, did_you_mean, full_trace_requested

_UNION = "Does not validate against any of the Union subtypes"
_LIST_AT_MOST = 20  # accepted names are listed up to this many; beyond, the user is sent to --help


@dataclass
class _Problem:
    """What a parser message says, reduced to the option, the value and what would have been accepted."""

    key: str  # dotted option, e.g. model.init_args.lambda_u
    kind: str  # "unknown" option, bad "value", unknown "class", or "other"
    detail: str = ""  # for "value": what was expected; for "other": the message
    value: Any = None
    choices: list[str] = field(default_factory=list)
    owner: str | None = None  # for "unknown": the class whose option it would be


def _join(*parts: str) -> str:
    return ".".join(part for part in parts if part)


def _items(block: str) -> list[str]:
    """The items of a ``- first\\n  more\\n- second`` list (already dedented), each dedented."""
    items: list[list[str]] = []
    for line in block.splitlines():
        if line.startswith("- "):
            items.append([line[2:]])
        elif items:
            items[-1].append(line[2:] if line.startswith("  ") else line.strip())
    return ["\n".join(item).strip() for item in items]


def _rank(item: str) -> int:
    """Which of a union's errors explains the problem best (lowest first)."""
    if item.startswith("Problem with given class_path"):
        return 0
    if item.startswith(("Parser key", _UNION, "Option ", "Group ")):
        return 1
    if item.startswith("Expected a path but"):  # the value was also tried as a config file path
        return 8
    if item.startswith("Expected a <class 'NoneType'>"):
        return 9
    return 5


_TYPE_NAMES = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "dict": "a mapping, e.g. '{key: value}'",
    "list": "a list, e.g. '[1, 2]'",
}


def _expected(items: Sequence[str]) -> tuple[list[str], list[str]] | None:
    """When every item is ``Expected a <class 'T'>`` or ``Expected a typing.Literal[...]``: (type phrases,
    literal choices); else None."""
    types: list[str] = []
    choices: list[str] = []
    for item in items:
        first = item.split(". Got value:")[0]
        if match := re.fullmatch(r"Expected a <class '(\w+)'>", first):
            if match[1] != "NoneType":
                types.append(_TYPE_NAMES.get(match[1], f"a {match[1]}"))
        elif match := re.fullmatch(r"Expected a typing\.Literal(\[.*\])", first, re.S):
            try:
                choices.extend(str(choice) for choice in ast.literal_eval(match[1]))
            except (ValueError, SyntaxError):
                return None
        else:
            return None
    return types, list(dict.fromkeys(choices))


def _given_value(text: str) -> Any:
    """The ``Given value:`` of a union message: a command-line value, a config mapping, or the raw text."""
    match = re.search(r"^Given value: (.*)\Z", text, re.M | re.S)
    if match is None:
        return None
    raw = match[1].strip()
    if nested := re.fullmatch(r"NestedArg\(key='(.*)', val='(.*)'\)", raw, re.S):
        return nested[2]
    if raw.startswith(("{", "[")):
        try:
            return ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            return raw
    return raw


def _base_class(text: str) -> str | None:
    """The first class of a union's ``Subtypes:`` line (the type a ``class_path`` must subclass)."""
    match = re.search(r"^Subtypes: (.*)$", text, re.M)
    if match:
        for path in re.findall(r"<class '([\w.]+)'>", match[1]):
            if path != "NoneType":
                return path
    return None


def _import(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _init_options(class_path: str | None) -> list[str]:
    """The parameters a class accepts (following ``**kwargs`` into its bases, as jsonargparse does)."""
    if not class_path:
        return []
    try:
        cls = _import(class_path)
    except Exception:  # a message helper must not fail
        return []
    names: list[str] = []
    for klass in inspect.getmro(cls) if inspect.isclass(cls) else [cls]:
        try:
            parameters = inspect.signature(klass.__init__ if inspect.isclass(klass) else klass).parameters.values()
        except (TypeError, ValueError):
            break
        names += [p.name for p in parameters if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return list(dict.fromkeys(names))


def _subclass_names(base_path: str | None) -> list[str]:
    """Short names of the public, concrete, imported subclasses of ``base_path`` (what ``class_path`` accepts); the
    ``Base*`` classes the concrete ones derive from (``BaseTask``, ``BaseDataModule``) are not offered."""
    if not base_path:
        return []
    try:
        base = _import(base_path)
    except Exception:
        return []
    names: list[str] = []
    todo = [base]
    while todo:
        cls = todo.pop(0)
        todo.extend(cls.__subclasses__())
        path = f"{cls.__module__}.{cls.__qualname__}"
        if (
            "._" in path
            or "<locals>" in path
            or inspect.isabstract(cls)
            or cls is base
            or cls.__name__.startswith("Base")
        ):
            continue
        names.append(cls.__name__)
    return list(dict.fromkeys(names))


def _module_classes(module_path: str) -> list[str]:
    try:
        module = importlib.import_module(module_path)
    except Exception:
        return []
    return [f"{module_path}.{name}" for name in dir(module) if not name.startswith("_")
            and inspect.isclass(getattr(module, name))]  # fmt: skip


def _parse(text: str, key: str, owner: str | None, base: str | None, options: Sequence[str]) -> _Problem:
    """Read one (sub)message of jsonargparse; ``key`` is the option it is about, ``owner`` the class whose options
    nested keys are (their key gains ``init_args``), ``base`` the class a class_path must subclass."""
    text = text.strip("\n")
    if match := re.match(r'Parser key "([^"]+)":\n(.*)', text, re.S):
        return _parse(textwrap.dedent(match[2]), _join(key, "init_args" if owner else "", match[1]), None, None,
                      options)  # fmt: skip
    if text.startswith("- "):  # alternatives tried one after the other
        items = sorted(_items(text), key=_rank)
        return _parse(items[0], key, owner, base, options)
    if text.startswith(_UNION):
        errors = text.split("\nErrors:\n", 1)[-1].split("\nGiven value type:", 1)[0]
        items = sorted(_items(textwrap.dedent(errors)), key=_rank)
        value = _given_value(text)
        expected = _expected([item for item in items if _rank(item) < 9] or items)
        if expected is not None and _rank(items[0]) >= 5:
            types, choices = expected
            return _Problem(key, "value", " or ".join(types), value, choices)
        problem = _parse(items[0], key, owner, _base_class(text) or base, options)
        if problem.value is None and problem.kind != "unknown":
            problem.value = value
        return problem
    if match := re.match(r"Problem with given class_path '([^']+)':\n(.*)", text, re.S):
        return _parse(textwrap.dedent(match[2]), key, match[1], base, options)
    if match := re.match(
        r"(?:.*\n)?.*expects a function or a callable class: (.*?)(?:\. Got value: (.*))?\Z", text, re.S
    ):
        class_path = re.search(r"class_path='([^']+)'", match[2] or "")
        return _parse(match[1], key, class_path[1] if class_path else None, base, options)
    if match := re.match(r"Option '([^']+)' is not accepted", text):
        return _Problem(_join(key, "init_args" if owner else "", match[1]), "unknown", choices=_init_options(owner),
                        owner=owner)  # fmt: skip
    if match := re.match(r"(Group|Subcommand) '([^']+)' does not accept option '([^']+)'", text):
        name = _join(key, match[2] if match[1] == "Group" else "", match[3])  # a subcommand is not part of keys
        return _Problem(name, "unknown", choices=list(options))
    if match := re.match(r"unrecognized arguments: (\S+)(?: (.*))?", text, re.S):
        name = match[1].split("=", 1)[0].lstrip("-")
        value = match[1].split("=", 1)[1] if "=" in match[1] else match[2]
        return _Problem(name, "unknown", value=value, choices=list(options))
    if match := re.match(r"Expected a dot import path string: (.*)", text):
        return _Problem(_join(key, "class_path"), "class", value=match[1].strip(), choices=_subclass_names(base))
    if match := re.match(r"module '([\w.]+)' has no attribute '([^']+)'", text):
        path = f"{match[1]}.{match[2]}"
        return _Problem(_join(key, "class_path"), "class", value=path, choices=_module_classes(match[1]))
    expected = _expected([text])
    if expected is not None:
        types, choices = expected
        got = re.search(r"\. Got value: (.*)\Z", text, re.S)
        return _Problem(key, "value", " or ".join(types), got[1] if got else None, choices)
    return _Problem(key, "other", " ".join(line.strip() for line in text.splitlines() if line.strip()))


def _lookup(mapping: Any, dotted: str) -> Any:
    """``mapping[a][b]`` for ``dotted`` ``a.b``, stepping over a missing ``init_args`` level; None when absent."""
    for part in dotted.split(".") if dotted else []:
        if not isinstance(mapping, dict):
            return None
        if part not in mapping and part == "init_args":
            continue
        mapping = mapping.get(part)
    return mapping


def _strip_init_args(key: str) -> str:
    return ".".join(part for part in key.split(".") if part != "init_args")


def _where(key: str, argv: Sequence[str]) -> str:
    """``--option`` as typed on the command line, else ``key in FILE`` for the last config file that sets it."""
    wanted = _strip_init_args(key)
    forms = {wanted, wanted.removesuffix(".class_path")}
    for arg in reversed(argv):
        if arg.startswith("--") and _strip_init_args(arg[2:].split("=", 1)[0].removesuffix("+")) in forms:
            return arg.split("=", 1)[0].removesuffix("+")
    for path in reversed(config_paths(argv)):
        try:
            import yaml

            with open(path, encoding="utf-8") as handle:
                content = yaml.safe_load(handle)
        except Exception:  # check_config_files reports unreadable files
            continue
        if _lookup(content, key) is not None or _lookup(content, wanted) is not None:
            return f"{key} in {path}"
    return f"--{key}"


def _names(choices: Sequence[str]) -> str:
    return ", ".join(choices)


def _render(problem: _Problem, argv: Sequence[str], subcommand: str | None) -> list[str]:
    where = _where(problem.key, argv)
    help_hint = f"liftpool {subcommand} --help" if subcommand else "liftpool --help"
    if problem.kind == "unknown":
        name = problem.key.rsplit(".", 1)[-1]
        owner = problem.owner.rsplit(".", 1)[-1] if problem.owner else None
        choices = problem.choices
        if owner:  # compare the class's parameter names
            guess = did_you_mean(name, choices)
        else:  # compare with the options of the same group; name the guess as the user would write it
            parent = problem.key.rpartition(".")[0]
            siblings = {choice.rpartition(".")[2]: choice for choice in choices if choice.rpartition(".")[0] == parent}
            guess = siblings.get(did_you_mean(name, siblings) or "")
            guess = guess and (f"--{guess}" if where.startswith("--") else guess)
        first = f"{PREFIX} {where}: " + (f"{owner} has no option {name!r}" if owner else "no such option")
        first += f"; did you mean {guess}?" if guess else ""
        if owner and 0 < len(choices) <= _LIST_AT_MOST:
            return [first, f"{owner} accepts: {_names(choices)}"]
        return [first, f"({help_hint} lists the options)"]
    if problem.kind == "value":
        got = f", got {problem.value!r}" if problem.value is not None else ""
        if problem.choices:
            guess = did_you_mean(str(problem.value), problem.choices) if problem.value is not None else None
            line = f"{PREFIX} {where}: expected one of {_names(problem.choices)}{got}"
            return [line + (f"; did you mean {guess}?" if guess else "")]
        return [f"{PREFIX} {where}: expected {problem.detail or 'another value'}{got}"]
    if problem.kind == "class":
        value = str(problem.value)
        guess = did_you_mean(value, problem.choices) if problem.choices else None
        first = f"{PREFIX} {where}: no class {value!r}" + (f"; did you mean {guess}?" if guess else "")
        if 0 < len(problem.choices) <= _LIST_AT_MOST and "." not in value:  # short names: list them
            return [first, f"choose from {_names(problem.choices)} (or a full import path)"]
        return [first]
    detail = problem.detail if len(problem.detail) <= 300 else problem.detail[:297] + "..."
    return [f"{PREFIX} {where}: {detail}" if problem.key else f"{PREFIX} {detail}"]


def parser_error_lines(
    message: str, argv: Sequence[str] = (), options: Sequence[str] = (), subcommand: str | None = None
) -> list[str]:
    """One or two lines for a jsonargparse error ``message``.

    Args:
        message: what jsonargparse passes to ``ArgumentParser.error``.
        argv: the parsed arguments: an option given there is named as typed, else the config file setting it.
        options: the parser's dotted option names (suggestions for unknown options).
        subcommand: e.g. ``fit``, for the ``--help`` hint.
    """
    try:
        return _render(_parse(message, "", None, None, options), argv, subcommand)
    except Exception:  # an unexpected message format: show it compactly rather than fail
        lines = [line.strip() for line in message.splitlines() if line.strip()]
        return [f"{PREFIX} {' '.join(lines)[:400]}"]


def _parser_options(parser: Any, subcommand: str | None) -> list[str]:
    """Dotted names of the options of ``parser`` and of its ``subcommand`` parser."""
    parsers = [parser]
    action = getattr(parser, "_subcommands_action", None)
    subparsers = getattr(action, "_name_parser_map", {}) if action is not None else {}
    if subcommand in subparsers:
        parsers.append(subparsers[subcommand])
    names = []
    for each in parsers:
        for action in getattr(each, "_actions", []):
            if action.dest not in ("help", "==SUPPRESS==") and action.option_strings:
                names.append(action.dest)
    return list(dict.fromkeys(names))


class ShortParserErrors:
    """Mixin for a jsonargparse ``ArgumentParser``: a parse error is one or two lines on stderr and exit status 2
    (the full usage and message with ``LIFTPOOL_TRACEBACK=1``). Parsers that raise instead of exiting (jsonargparse
    builds those internally) are left as they are."""

    _liftpool_argv: list[str] | None = None

    def parse_args(self, *args: Any, **kwargs: Any) -> Any:
        given = args[0] if args else kwargs.get("args")
        self._liftpool_argv = list(sys.argv[1:] if given is None else given)
        return super().parse_args(*args, **kwargs)  # type: ignore[misc]

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        if not getattr(self, "exit_on_error", True) or full_trace_requested():
            super().error(message, ex)  # type: ignore[misc]
            raise AssertionError("ArgumentParser.error returned")  # it raises or exits
        argv = self._liftpool_argv if self._liftpool_argv is not None else sys.argv[1:]
        action = getattr(self, "_subcommands_action", None)
        names = getattr(action, "_name_parser_map", {}) if action is not None else {}
        if names:  # the main parser: the subcommand is on the command line
            subcommand = next((arg for arg in argv if arg in names), None)
        else:  # a subcommand's own parser ("liftpool [options] fit") or a single-command one ("liftpool check-data")
            prog = str(getattr(self, "prog", ""))
            subcommand = prog.split()[-1] if " " in prog else None
        lines = parser_error_lines(message, argv, _parser_options(self, subcommand), subcommand)
        sys.stderr.write("\n".join(lines) + "\n")
        self.exit(2)  # type: ignore[attr-defined]
        raise AssertionError("ArgumentParser.exit returned")  # it raises SystemExit


def unwrap_instantiation(error: BaseException) -> tuple[BaseException, str]:
    """The exception our code raised while jsonargparse built a class (it wraps it in union-type dumps), and the
    name of the class being built; ``error`` itself and "" when it is not such a wrapper."""
    owner = ""
    while isinstance(error, (ValueError, TypeError)) and str(error).startswith(_UNION) and error.__cause__:
        class_path = re.search(r"^Given value: .*?class_path='([^']+)'", str(error), re.M)
        if class_path and not owner:
            owner = class_path[1].rsplit(".", 1)[-1]
        error = error.__cause__
    return error, owner
