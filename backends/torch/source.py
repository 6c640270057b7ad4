"""``emit_source``: a standalone, readable PyTorch file for a graph (imports torch only, never archc).

It is written from the same lowering plan as the GraphModule, so the two compute the same function and have the same
state_dict keys in the same order: submodules sit in nested ``nn.ModuleDict`` containers named as the spec's nodes.
The forward reads like hand-written code: a value read only by the next line flows through ``x``; other values keep
their node's name and are deleted after their last reader, so memory is freed as early as in the GraphModule.
"""

from __future__ import annotations

import functools
import inspect
import keyword
import operator
import textwrap
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from archc.backends.torch.build import OUTPUT, Plan, Program, Step, generate, make_plan
from archc.backends.torch.init import constant, drawn, init_source, init_statements
from archc.backends.torch.registry import INFIX, Module
from archc.ir.graph import Graph

INDENT = "    "
WIDTH = 120


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _attribute_ok(name: str) -> bool:
    # attribute access reaches a submodule only where the name is not already an attribute of its container
    return name.isidentifier() and not keyword.iskeyword(name) and not hasattr(nn.ModuleDict, name)


def module_access(name: str) -> str:
    """``layer1.0.conv1`` -> ``self.layer1["0"].conv1``."""
    first, *rest = name.split(".")
    text = f"self.{first}" if _attribute_ok(first) else f"getattr(self, {_quote(first)})"
    for part in rest:
        text += f".{part}" if _attribute_ok(part) else f"[{_quote(part)}]"
    return text


def _qualified(target: Any) -> str:
    """How emitted code names a function or layer class: ``F.relu``, ``torch.cat``, ``nn.Conv2d``, or the full path
    of one defined elsewhere (a plugin's; its module is imported at the top of the file)."""
    name = target.__name__
    for prefix, namespace in (("F", F), ("torch", torch), ("nn", nn)):
        if getattr(namespace, name, None) is target:
            return f"{prefix}.{name}"
    module, qualname = getattr(target, "__module__", None), getattr(target, "__qualname__", "")
    if not module or "<" in qualname or module == "__main__":
        raise ValueError(f"emit_source cannot name {target!r}: it is not importable (define it at module level)")
    return f"{module}.{qualname}"


def _foreign_modules(plan: Plan, program: Program) -> list[str]:
    """Modules (other than torch's) that the emitted code names: plugins' layers and functions."""
    targets = [step.description.cls for step in plan.steps if step.description is not None]
    targets += [node.target for node in program.graph.nodes if node.op == "call_function"]
    found: dict[str, None] = {}
    for target in targets:
        if target in INFIX or target is operator.getitem:
            continue
        if _qualified(target).split(".")[0] not in ("F", "torch", "nn"):
            found[target.__module__] = None
    return list(found)


def _slice(part: Any) -> str:
    if not isinstance(part, slice):
        return repr(part)
    text = ("" if part.start is None else str(part.start)) + ":" + ("" if part.stop is None else str(part.stop))
    return text + (f":{part.step}" if part.step is not None else "")


def _literal(value: Any) -> str:
    return _quote(value) if isinstance(value, str) else repr(value)


Text = tuple[str, str | None]  # an expression and, when it is an infix expression, its operator


def _argument(value: Any, texts: dict[fx.Node, Text]) -> str:
    if isinstance(value, fx.Node):
        return texts[value][0]
    if isinstance(value, (list, tuple)) and any(isinstance(item, fx.Node) for item in value):
        return f"[{', '.join(_argument(item, texts) for item in value)}]"
    return _literal(value)


def _operand(value: Any, texts: dict[fx.Node, Text], operator_: str | None = None) -> str:
    """An expression used as an operand: parenthesised when it is an infix expression of another operator."""
    text, infix = texts[value] if isinstance(value, fx.Node) else (_literal(value), None)
    return text if infix is None or infix == operator_ else f"({text})"


def render_node(node: fx.Node, texts: dict[fx.Node, Text]) -> Text:
    """The Python expression of one FX node of the generated program, its arguments given as expressions."""
    if node.op == "call_module":
        return f"{module_access(str(node.target))}({', '.join(_argument(a, texts) for a in node.args)})", None
    if node.op == "get_attr":
        return module_access(str(node.target)), None
    if node.op == "call_function" and node.target in INFIX:
        symbol = INFIX[node.target]
        left, right = node.args
        return f"{_operand(left, texts, symbol)} {symbol} {_operand(right, texts)}", symbol
    if node.op == "call_function" and node.target is operator.getitem:
        base, index = node.args
        return f"{_operand(base, texts)}[{', '.join(_slice(part) for part in index)}]", None
    extra = [f"{key}={_literal(value)}" for key, value in node.kwargs.items()]
    if node.op == "call_method":
        receiver, *rest = node.args
        arguments = [_argument(a, texts) for a in rest] + extra
        return f"{_operand(receiver, texts)}.{node.target}({', '.join(arguments)})", None
    arguments = [_argument(a, texts) for a in node.args] + extra
    return f"{_qualified(node.target)}({', '.join(arguments)})", None


def _expression(nodes: list[fx.Node], texts: dict[fx.Node, Text]) -> str:
    """One step's FX nodes as one expression: the earlier ones nest into the later ones."""
    for node in nodes:
        texts[node] = render_node(node, texts)
    return texts[nodes[-1]][0]


def _wrapped_pack(target: str, node: fx.Node, texts: dict[fx.Node, Text]) -> list[str]:
    """A long ``torch.cat([...], dim=1)`` (a late DenseNet layer reads every earlier one) over several lines."""
    first, *rest = node.args
    extra = [_literal(arg) for arg in rest] + [f"{key}={_literal(value)}" for key, value in node.kwargs.items()]
    chunks = textwrap.wrap(", ".join(texts[item][0] for item in first) + ",", WIDTH - 4 * len(INDENT),
                           break_long_words=False)
    return [f"{target} = {_qualified(node.target)}([", *[INDENT + chunk for chunk in chunks],
            f"], {', '.join(extra)})" if extra else "])"]


@functools.cache
def _defaults(cls: type[nn.Module]) -> dict[str, Any]:
    return {name: parameter.default for name, parameter in inspect.signature(cls).parameters.items()
            if parameter.default is not inspect.Parameter.empty}


def _is_default(value: Any, default: Any) -> bool:
    return type(value) is type(default) and value == default  # True == 1, but bias=1 is no default


def constructor(description: Module) -> str:
    """The constructor call of a described module, arguments equal to the constructor's defaults left out: exactly
    what the GraphModule's builder calls (backends/torch/build.py:instantiate)."""
    defaults = _defaults(description.cls)
    parts = [_literal(value) for value in description.args]
    parts += [f"{key}={_literal(value)}" for key, value in description.kwargs.items()
              if not (key in defaults and _is_default(value, defaults[key]))]
    return f"{_qualified(description.cls)}({', '.join(parts)})"


def _tree(plan: Plan) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for step in plan.steps:
        if step.module is None and step.param is None:
            continue
        *parents, leaf = step.name.split(".")
        owner = tree
        for depth, part in enumerate(parents):
            owner = owner.setdefault(part, {})
            if not isinstance(owner, dict):
                raise ValueError(f"emit_source: '{step.name}' sits inside the layer '{'.'.join(parents[:depth + 1])}'; "
                                 "only containers hold layers in the emitted file")
        if step.description is not None:
            owner[leaf] = constructor(step.description)
    return tree


def _parameters(plan: Plan) -> list[str]:
    """Bare parameters (a Param part): set on their container after the containers exist, filled as declared."""
    lines = []
    for step in plan.steps:
        if step.param is None:
            continue
        access, shape = module_access(step.name), tuple(step.param.shape)
        value = _param_init(step)
        if drawn(value):  # drawn as the spec says (a ViT's position embedding: normal(std=0.02))
            lines += [f"{access} = nn.Parameter(torch.empty({shape!r}))", init_source(value).format(access)]
        else:
            fill = 0.0 if value in (None, "zeros") else constant(value)
            lines.append(f"{access} = nn.Parameter(torch.full({shape!r}, {fill!r}))")
    return lines


def _param_init(step: Step) -> Any:
    decl = next(decl for decl in type(step.attrs).tensors if not decl.name)
    return decl.initial(step.attrs)


def _module_dict(tree: dict[str, Any]) -> list[str]:
    lines = ["nn.ModuleDict({"]
    for key, value in tree.items():
        if isinstance(value, dict):
            inner = _module_dict(value)
            lines += [f"{INDENT}{_quote(key)}: {inner[0]}", *[INDENT + line for line in inner[1:-1]],
                      f"{INDENT}{inner[-1]},"]
        else:
            lines.append(f"{INDENT}{_quote(key)}: {value},")
    lines.append("})")
    return lines


def _init_method(plan: Plan, reset: bool) -> list[str]:
    lines = ["def __init__(self) -> None:", f"{INDENT}super().__init__()"]
    for key, value in _tree(plan).items():
        text = _module_dict(value) if isinstance(value, dict) else [value]
        if _attribute_ok(key):
            text[0] = f"self.{key} = {text[0]}"
        else:
            text[0] = f"self.add_module({_quote(key)}, {text[0]}"
            text[-1] += ")"
        lines += [INDENT + line for line in text]
    lines += [INDENT + line for line in _parameters(plan)]
    if reset:
        lines.append(f"{INDENT}self.reset_parameters()")
    return lines


def _reset_method(plan: Plan) -> list[str]:
    groups: dict[tuple[str, ...], list[Step]] = {}  # the statements for one module -> the modules that need them
    for step in plan.modules:
        statements = tuple(init_statements("module", step.attrs))
        if statements:
            groups.setdefault(statements, []).append(step)
    if not groups:
        return []
    lines = ["def reset_parameters(self) -> None:",
             f'{INDENT}"""The spec\'s initialisation, where it differs from what the layer constructors draw."""']
    for statements, steps in groups.items():
        if len(steps) == 1:
            lines += [INDENT + line for line in init_statements(module_access(steps[0].name), steps[0].attrs)]
            continue
        listing = ", ".join(_quote(step.name) for step in steps)
        chunks = textwrap.wrap(listing, WIDTH - 4 * len(INDENT), break_long_words=False, break_on_hyphens=False)
        if len(chunks) == 1:
            lines.append(f"{INDENT}for name in ({chunks[0]}):")
        else:
            chunks[-1] += ","
            lines += [f"{INDENT}for name in (", *[INDENT * 2 + chunk for chunk in chunks], f"{INDENT}):"]
        lines.append(f"{INDENT * 2}module = self.get_submodule(name)")
        lines += [INDENT * 2 + statement for statement in statements]
    return lines


def _is_augmented_add(nodes: list[fx.Node]) -> bool:
    return len(nodes) == 1 and nodes[0].op == "call_method" and nodes[0].target == "add_" and len(nodes[0].args) == 2


def _is_pack(nodes: list[fx.Node]) -> bool:
    return len(nodes) == 1 and nodes[0].op == "call_function" and isinstance(nodes[0].args[0], (list, tuple))


def _forward_method(plan: Plan, program: Program) -> list[str]:
    """The forward of the emitted file: the FX nodes of the generated program, one statement per step."""
    names = {plan.input_name: plan.input_ident}
    texts: dict[fx.Node, Text] = {}
    placeholder = next(iter(program.graph.nodes))
    texts[placeholder] = (plan.input_ident, None)
    last_reader = {source: step.name for step in plan.steps for source in step.inputs}
    lines = [f"def forward(self, {plan.input_ident}: torch.Tensor) -> torch.Tensor:"]
    for index, step in enumerate(plan.steps):
        nodes = program.nodes[step.name]
        args = [names[source] for source in step.inputs]
        following = plan.steps[index + 1].name if index + 1 < len(plan.steps) else None
        # a value read by the next line only flows through x, as in hand-written forwards
        names[step.name] = "x" if plan.readers[step.name] == [following] else step.ident
        statement = f"{names[step.name]} = {_expression(nodes, texts)}"
        if _is_augmented_add(nodes) and names[step.name] == args[0]:
            statement = f"{args[0]} += {args[1]}"  # as torchvision writes its residual sum
        if len(statement) > WIDTH - 2 * len(INDENT) and _is_pack(nodes):
            lines += [INDENT + line for line in _wrapped_pack(names[step.name], nodes[0], texts)]
        else:
            lines.append(INDENT + statement)
        texts[nodes[-1]] = (names[step.name], None)  # later steps read the variable
        dead = [names[source] for source in dict.fromkeys(step.inputs)
                if last_reader[source] == step.name and names[source] not in ("x", plan.input_ident)
                and OUTPUT not in plan.readers[source]]
        if dead:
            lines.append(f"{INDENT}del {', '.join(dead)}")
    if len(plan.outputs) > 1:
        lines[0] = lines[0].replace("-> torch.Tensor:", "-> list[torch.Tensor]:")
        lines.append(f"{INDENT}return [{', '.join(names[output] for output in plan.outputs)}]")
    else:
        lines.append(f"{INDENT}return {names[plan.output]}")
    return lines


def emit_source(graph: Graph) -> str:
    """A standalone PyTorch file defining an ``nn.Module`` class that builds the same model as ``build_model``.

    Same submodule names (so the same state_dict keys, in the same order) and the same forward; the initialisation
    follows the spec too. Only torch is imported: the file runs where archc is not installed.
    """
    from archc import __version__

    plan = make_plan(graph, device="meta")  # the structure only: no weights are drawn
    input_shape = ", ".join(map(str, graph.nodes[graph.input_node]["shape"]))
    output_shape = "], [N, ".join(", ".join(map(str, graph.nodes[output]["shape"])) for output in graph.outputs)
    reset = _reset_method(plan)
    program = generate(plan)
    methods = [_init_method(plan, bool(reset)), reset, _forward_method(plan, program)]
    body = [f"class {plan.class_name}(nn.Module):",
            f'{INDENT}"""{graph.name_}: input [N, {input_shape}] -> output [N, {output_shape}]."""']
    for method in filter(None, methods):
        body += ["", *[INDENT + line for line in method]]
    uses_functional = any("F." in line for line in body)
    foreign = "".join(f"import {module}\n" for module in _foreign_modules(plan, program))
    return f'''"""{graph.name_}: a standalone PyTorch module, generated by archc {__version__}.

The submodules carry the spec's node names, so a state_dict of the archc model loads with strict=True:

    model = {plan.class_name}()
    model.load_state_dict(torch.load("weights.pt"))
"""

from __future__ import annotations

import torch
{"import torch.nn.functional as F" + chr(10) if uses_functional else ""}from torch import nn
{chr(10) + foreign if foreign else ""}

{chr(10).join(body)}


if __name__ == "__main__":
    model = {plan.class_name}().eval()
    with torch.no_grad():
        y = model(torch.zeros(1, {input_shape}))
        print([t.shape for t in y] if isinstance(y, list) else y.shape)
'''
