"""Lowering an archc Graph to a torch.fx.GraphModule.

``make_plan`` runs every node's lowering once, in the graph's order, and records what the generated ``forward`` will
do; ``build_model`` turns the plan into a GraphModule and ``source.emit_source`` into a standalone Python file. Modules
sit at their node's hierarchical name (``layer1.0.conv1``), so state_dict keys are the spec's names, in graph order.
"""

from __future__ import annotations

import functools
import inspect
import keyword
import re
from dataclasses import dataclass, field

import torch
import torch.fx as fx
from torch import nn

from archc.backends.torch.init import constant, drawn, init_weight, initialise, uninitialised
from archc.backends.torch.registry import (
    LOWERINGS,
    Call,
    Lowered,
    Lowering,
    LoweringNode,
    Module,
    Param,
    Part,
    get_lowering,
)
from archc.errors import Diagnostic, SpecError, lowering_node
from archc.ir.graph import Graph
from archc.ops.registry import ROLES, OpSpec, has_trait

OUTPUT = "<output>"  # a virtual reader of the graph's output node: the caller reads it after forward returns


@dataclass
class Step:
    """One graph node that does something at run time (nodes lowered to ``()`` are aliases and have no step)."""

    name: str  # the node's hierarchical name: the module path for modules
    ident: str  # a Python identifier derived from the name: the FX node and local variable name
    op: str
    attrs: OpSpec
    inputs: list[str]  # the nodes whose tensors it reads, in port order, aliases followed
    parts: tuple[Part, ...]  # what the lowering described, in order (at most one Module)
    module: nn.Module | None = None  # the Module part, built
    param: nn.Parameter | None = None  # the Param part, built

    @property
    def description(self) -> Module | None:
        return next((part for part in self.parts if isinstance(part, Module)), None)


@dataclass
class Plan:
    """What the generated forward does, in order: the input placeholder, the steps, the output."""

    class_name: str
    input_name: str
    input_ident: str
    steps: list[Step] = field(default_factory=list)
    output: str = ""  # the node whose tensor forward returns (aliases followed): the first of outputs
    outputs: list[str] = field(default_factory=list)  # all of them, in order (a list is returned for several)
    readers: dict[str, list[str]] = field(default_factory=dict)  # node -> steps reading it (and OUTPUT)

    @property
    def modules(self) -> list[Step]:
        return [step for step in self.steps if step.module is not None]


#: names the generated code uses itself: a local variable of the same name would hide them
RESERVED_LOCALS = frozenset({"self", "torch", "nn", "F", "getattr", "x"})


def identifier(name: str, taken: set[str] | None = None) -> str:
    """``layer1.0.conv1`` -> ``layer1_0_conv1``: a valid, readable Python identifier for a node name.

    With ``taken``, the identifier is also made unique (``a.b`` and ``a_b`` both read ``a_b``) and added to it.
    """
    ident = re.sub(r"\W", "_", name)
    if not ident or ident[0].isdigit() or keyword.iskeyword(ident):
        ident = "_" + ident
    if ident in RESERVED_LOCALS:
        ident += "_"
    if taken is not None:
        base, count = ident, 0
        while ident in taken:
            count += 1
            ident = f"{base}_{count}"
        taken.add(ident)
    return ident


def class_name(name: str) -> str:
    """``se_resnet50`` -> ``SeResnet50``: the class name of the GraphModule and of emitted source."""
    words = [word for word in re.split(r"[^A-Za-z0-9]+", name) if word]
    text = "".join(word[:1].upper() + word[1:] for word in words) or "Network"
    return text if text[0].isalpha() else "Net" + text


@functools.cache
def _reserved_names() -> frozenset[str]:
    # attributes of a GraphModule (and so of nn.Module): a submodule of that name would shadow them or be shadowed
    return frozenset(dir(fx.GraphModule(nn.Module(), fx.Graph())))


def _check_graph(graph: Graph) -> None:
    if graph.diagnostics:
        raise SpecError(graph.diagnostics)
    broken = [name for name, data in graph.op_nodes() if data.get("attrs") is None or data.get("shape") is None]
    if broken:
        raise SpecError(f"cannot lower a graph with failed nodes: {', '.join(broken[:5])}")


def _check_module_name(name: str, data: dict, layers: set[str], containers: set[str]) -> None:
    """A module name must not shadow an nn.Module attribute, and a layer cannot also hold other layers."""
    parts = name.split(".")
    prefixes = {".".join(parts[:depth]) for depth in range(1, len(parts))}
    problem = None
    if any(part in _reserved_names() for part in parts):
        part = next(part for part in parts if part in _reserved_names())
        problem = f"'{part}' in the node name '{name}' is an attribute of torch.nn.Module; it cannot name a submodule"
    elif name in containers or prefixes & layers:
        other = name if name in containers else min(prefixes & layers)
        problem = f"'{other}' would be both a layer and the container of other layers"
    if problem:
        raise SpecError(Diagnostic(problem, data.get("pos"), data.get("path", ""), "rename the node"))
    layers.add(name)
    containers.update(prefixes)


def _reduced_precision(op: str, inputs: list[bool | None]) -> bool | None:
    """Whether the op's output is in autocast's reduced precision (True), full precision (False) or unknown (None).

    From the op's traits: "reduced precision" (conv, linear), "keeps dtype", "promotes dtype" (merges); an op with
    none of them (softmax, which CUDA autocast runs in float32) counts as unknown.
    """
    if has_trait(op, "reduced precision"):
        return True
    if has_trait(op, "keeps dtype") or has_trait(op, "promotes dtype"):
        if None in inputs:
            return None
        return all(inputs)  # a merge of a reduced and a full precision tensor is promoted to full precision
    return None


def _can_overwrite(graph: Graph, name: str, inputs: list[str], readers: list[str],
                   reduced: dict[str, bool | None]) -> bool:
    """Whether the node may write its result into its first input (see LoweringNode.can_overwrite_input).

    Only "in-place safe" ops ask; the first input must have a "fresh output": a new tensor autograd does not keep
    (conv, bn, add, ...; not a view such as flatten, a pass-through such as identity, nor sigmoid, whose backward
    reads its output), read by this node alone.
    """
    if not has_trait(graph.nodes[name]["op"], "in-place safe"):
        return False
    first = inputs[0]
    others = [reduced[source] for source in inputs[1:]]
    # first += other fails when other's dtype is wider (bf16 += fp32 under autocast); fine when first is the wider
    dtype_safe = reduced[first] is False or all(value is True for value in others)
    return (has_trait(graph.nodes[first]["op"], "fresh output") and readers == [name] and inputs.count(first) == 1
            and graph.nodes[first]["shape"] == graph.nodes[name]["shape"] and dtype_safe)


def _as_parts(lowered: Lowered, op: str) -> tuple[Part, ...]:
    parts = (lowered,) if isinstance(lowered, (Call, Module, Param)) else tuple(lowered)
    holders = sum(isinstance(part, (Module, Param)) for part in parts)
    if holders > 1 or not all(isinstance(p, (Call, Module, Param)) for p in parts) or \
            (parts and isinstance(parts[-1], Param)):
        raise TypeError(f"the torch lowering of '{op}' must return a description: a Module(cls, args, kwargs), a Call, "
                        "a Param, or a tuple of Calls and at most one Module or Param (read by a Call after it; "
                        f"backends/torch/registry.py), not {lowered!r}")
    return parts


def bare_parameter(node: LoweringNode) -> nn.Parameter:
    """The node's tensor declared with the empty name, on ``node.device``, filled with its declared initial value."""
    tensor = next(t for t in node.attrs.declared_tensors(list(node.input_shapes)) if not t.name)
    value = tensor.decl.initial(node.attrs)
    if drawn(value):  # a spec-drawn parameter (a ViT's position embedding: normal(std=0.02))
        data = torch.empty(tensor.shape, device=node.device)
        init_weight(data, value, node.generator)
    else:
        data = torch.full(tensor.shape, 0.0 if value in (None, "zeros") else constant(value), device=node.device)
    return nn.Parameter(data, requires_grad=tensor.decl.trainable)


@functools.cache
def _accepts_device(cls: type[nn.Module]) -> bool:
    return "device" in inspect.signature(cls).parameters


def instantiate(description: Module, node: LoweringNode) -> nn.Module:
    """Build the described module on ``node.device`` with the initial values the node's op declares.

    Where the op declares a tensor that torch's layers draw at random (a kernel, a bias), the module is built without
    its constructor's draw (``uninitialised``), so each weight is drawn once, from ``node.generator``.
    """
    kwargs = dict(description.kwargs)
    if _accepts_device(description.cls):
        kwargs["device"] = node.device
    tensors = node.attrs.declared_tensors(list(node.input_shapes))
    # child layers a module makes itself (Swin's qkv, attention's out_proj) draw from torch's global generator, then
    # get the declared values: with a seed, that draw leaves the global state as it was
    with torch.random.fork_rng(devices=[], enabled=node.generator is not None):
        if any(ROLES[tensor.decl.role].drawn for tensor in tensors):
            module = uninitialised(description.cls, *description.args, **kwargs)
        else:
            module = description.cls(*description.args, **kwargs)
    initialise(module, node)
    return module


def _lowering(data: dict) -> Lowering:
    if data["op"] not in LOWERINGS:
        raise SpecError(Diagnostic(f"the torch backend has no lowering for op '{data['op']}'", data.get("pos"),
                                   data.get("path", ""), "register one with archc.backends.torch.register_lowering "
                                   "(docs/plugins.md)"))
    return get_lowering(data["op"])


def make_plan(graph: Graph, generator: torch.Generator | None = None, device: str | torch.device = "cpu") -> Plan:
    """Lower every node of ``graph`` once (modules created on ``device``, weights drawn from ``generator``)."""
    _check_graph(graph)
    taken: set[str] = set()
    plan = Plan(class_name(graph.name_), graph.input_node, identifier(graph.input_node, taken))
    consumers: dict[str, list[str]] = {name: [] for name in graph.order()}
    for name, data in graph.op_nodes():
        for source in dict.fromkeys(data["inputs"]):
            consumers[source].append(name)
    for output in graph.outputs:
        consumers[output].append(OUTPUT)
    alias: dict[str, str] = {}  # a node lowered to () -> the node whose tensor it passes on
    reduced: dict[str, bool | None] = {graph.input_node: False}  # see _reduced_precision
    layers: set[str] = set()  # module names so far, and the containers they create
    containers: set[str] = set()

    def readers(node: str) -> list[str]:
        # the nodes that read this tensor; readers lowered as aliases pass it on to their own readers
        found = []
        for reader in consumers[node]:
            found.extend(readers(reader) if reader in alias else [reader])
        return found

    for name, data in graph.op_nodes():
        inputs = [alias.get(source, source) for source in data["inputs"]]
        overwrite = _can_overwrite(graph, name, inputs, readers(inputs[0]), reduced)
        reduced[name] = _reduced_precision(data["op"], [reduced[source] for source in inputs])
        node = LoweringNode(name, data["op"], data["attrs"], tuple(graph.nodes[s]["shape"] for s in inputs),
                            data["shape"], tuple(inputs), can_overwrite_input=overwrite, generator=generator,
                            device=device)
        with lowering_node(name, data):
            parts = _as_parts(_lowering(data)(node), data["op"])
            step = Step(name, identifier(name, taken), data["op"], data["attrs"], inputs, parts)
            if step.description is not None:
                _check_module_name(name, data, layers, containers)
                step.module = instantiate(step.description, node)
            if any(isinstance(part, Param) for part in parts):
                _check_module_name(name, data, layers, containers)
                step.param = bare_parameter(node)
        if parts == ():
            if len(inputs) != 1:
                raise ValueError(f"the lowering of {data['op']} passes its input on, but '{name}' has {len(inputs)}")
            alias[name] = inputs[0]
            continue
        plan.steps.append(step)
    plan.outputs = [alias.get(output, output) for output in graph.outputs]
    plan.output = plan.outputs[0]
    plan.readers = {step: readers(step) for step in [plan.input_name, *(s.name for s in plan.steps)]}
    return plan


def _install(root: nn.Module, name: str, module: nn.Module | nn.Parameter) -> None:
    *parents, leaf = name.split(".")
    owner = root
    for part in parents:
        if part not in owner._modules:
            owner.add_module(part, nn.Module())
        owner = owner._modules[part]
    if isinstance(module, nn.Parameter):
        owner.register_parameter(leaf, module)
    else:
        owner.add_module(leaf, module)


def _emit_parts(graph: fx.Graph, step: Step, args: list[fx.Node]) -> list[fx.Node]:
    """The FX nodes of one step, in order; the last one is the step's value."""
    made: list[fx.Node] = []
    for index, call in enumerate(step.parts):
        last = index == len(step.parts) - 1
        name = step.ident if last else f"{step.ident}_{call.name}"
        if isinstance(call, Module):
            made.append(graph.create_node("call_module", step.name, tuple(args), {}, name=name))
        elif isinstance(call, Param):  # the next part reads the inputs and then the tensor
            made.append(graph.create_node("get_attr", step.name, (), {}, name=name))
            args = [*args, made[-1]]
            continue
        elif call.fold:
            kind = "call_method" if call.method else "call_function"
            value = args[0]
            for position, other in enumerate(args[1:], start=2):
                node_name = name if position == len(args) else f"{name}_{position - 1}"
                value = graph.create_node(kind, call.target, (value, other, *call.args), dict(call.kwargs),
                                          name=node_name)
                made.append(value)
        else:
            kind = "call_method" if call.method else "call_function"
            inputs = (list(args),) if call.pack else tuple(args)
            made.append(graph.create_node(kind, call.target, (*inputs, *call.args), dict(call.kwargs), name=name))
        args = [made[-1]]
    return made


@dataclass
class Program:
    """THE code generator's output: the FX graph of a plan, its root module and which FX nodes each step made.

    ``build_graph_module`` wraps it into the GraphModule; ``source.emit_source`` prints the same FX nodes as Python,
    so the generated forward and the emitted file's forward are one program, printed twice.
    """

    graph: fx.Graph
    root: nn.Module
    nodes: dict[str, list[fx.Node]]  # step name -> its FX nodes, in order (the last one is its value)


def generate(plan: Plan) -> Program:
    """The FX program of a plan: call_module nodes for modules, call_function / call_method nodes for the rest."""
    graph = fx.Graph()
    env = {plan.input_name: graph.placeholder(plan.input_name)}
    root = nn.Module()
    nodes: dict[str, list[fx.Node]] = {}
    for step in plan.steps:
        if step.module is not None:
            _install(root, step.name, step.module)
        if step.param is not None:
            _install(root, step.name, step.param)
        nodes[step.name] = _emit_parts(graph, step, [env[source] for source in step.inputs])
        env[step.name] = nodes[step.name][-1]
    # several outputs (backbone features, auxiliary classifiers): a list, in the order the spec names them
    graph.output([env[name] for name in plan.outputs] if len(plan.outputs) > 1 else env[plan.output])
    return Program(graph, root, nodes)


def build_graph_module(plan: Plan) -> fx.GraphModule:
    """The GraphModule of a plan (its generated program)."""
    program = generate(plan)
    # an nn.Module root (not a dict): GraphModule then copies the submodules in graph order, so the state_dict keys
    # come in the order of the spec, as in the reference implementations (a dict root is sorted by depth)
    return fx.GraphModule(program.root, program.graph, class_name=plan.class_name)


def build_model(graph: Graph, seed: int | None = None) -> fx.GraphModule:
    """Lower ``graph`` to a ``torch.fx.GraphModule`` in training mode, on the CPU, float32.

    ``seed`` given: the weights come from a local generator seeded with it, so the same seed gives bit-identical
    weights and torch's global random state is left alone. ``seed=None`` draws from torch's global generator, as
    torch's own layers do. ``print(model.code)`` shows the generated forward.
    """
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return build_graph_module(make_plan(graph, generator))
