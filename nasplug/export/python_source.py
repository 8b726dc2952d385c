"""The found network as one page of plain PyTorch source: ``model.py`` + ``weights.pt``.

A child network is built from nasplug's (or a plugin's, or a user's) module
classes, so pickling it, or its ``state_dict`` alone, is useless where nasplug
is not installed.  Here the eval-mode child is traced with ``torch.fx``: every
module that is not a ``torch.nn`` built-in is inlined, so what is left is a
graph of ``torch.nn`` layers and torch functions.  The generated ``model.py``
rebuilds exactly the layers the graph calls (from their standard constructors),
registers the loose parameters and buffers the graph reads (TuNAS's weight
slices), and carries the traced ``forward``.  Only torch is imported.

The tracer also runs the example input through the network alongside the
proxies (:class:`ConcreteTracer`), so Python control flow on shapes (``if
x.shape[1] < conv.in_channels``) takes the branch the example takes instead of
stopping the trace.  Control flow on tensor *values*, calls into non-torch
functions and layers without a standard constructor cannot be written as such a
page: :class:`NotPlainTorch` says why, and the caller falls back to TorchScript.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import math
import re
import types
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from nasplug.errors import NasplugError


class NotPlainTorch(NasplugError):
    """The network cannot be written as plain torch source (the reason is the message)."""


class ConcreteTracer(fx.Tracer):
    """``torch.fx`` tracing that also computes each node's value on a real example input.

    Only :meth:`to_bool` and :meth:`iter` use the values: a branch on a shape or
    on a module attribute follows the example, and the dead comparison nodes are
    removed afterwards.  Everything else in the graph stays symbolic (batch size
    and shapes are not baked in).
    """

    def __init__(self, example: torch.Tensor):
        super().__init__()
        self.example = example
        self.values: dict[fx.Node, Any] = {}
        self._real_attributes = False

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, proxy_factory_fn=None):
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
        try:
            self.values[proxy.node] = self._compute(kind, target, args, kwargs)
        except Exception:  # no value: a branch on this node stops the trace as plain fx would
            pass
        return proxy

    def _value(self, item):
        if isinstance(item, fx.Proxy):
            return self.values[item.node]
        return item

    def _compute(self, kind, target, args, kwargs):
        args = fx.node.map_aggregate(args, self._value)
        kwargs = fx.node.map_aggregate(kwargs, self._value)
        self._real_attributes = True  # module attributes read here are the real tensors, not get_attr proxies
        try:
            with torch.no_grad():
                if kind == "placeholder":
                    return self.example
                if kind == "get_attr":
                    value = self.root
                    for atom in target.split("."):
                        value = getattr(value, atom)
                    return value
                if kind == "call_module":  # forward, not __call__: tracing patches that to record the call
                    return self.root.get_submodule(target).forward(*args, **kwargs)
                if kind == "call_function":
                    return target(*args, **kwargs)
                if kind == "call_method":
                    return getattr(args[0], target)(*args[1:], **kwargs)
            raise KeyError(kind)
        finally:
            self._real_attributes = False

    def getattr(self, attr, attr_val, parameter_proxy_cache):
        if self._real_attributes:  # a leaf's own forward, run on real tensors, reads its real weights
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)

    def to_bool(self, obj: fx.Proxy) -> bool:
        value = self.values.get(obj.node)
        # a Python bool comes from shapes and attributes, the same for every input of this shape; a tensor
        # comes from the input's values (``if x.sum() > 0``), which no single graph describes
        if isinstance(value, (bool, int)):
            return bool(value)
        return super().to_bool(obj)

    def iter(self, obj: fx.Proxy):
        value = self.values.get(obj.node)
        if isinstance(value, (tuple, list, torch.Size)):
            return iter([obj[i] for i in range(len(value))])
        return super().iter(obj)


def trace(model: nn.Module, example: torch.Tensor) -> fx.GraphModule:
    """The eval-mode graph of ``model`` with ``torch.nn`` built-ins as its only leaf modules."""
    tracer = ConcreteTracer(example)
    try:
        graph = tracer.trace(model)
    except (fx.proxy.TraceError, TypeError, RuntimeError, NotImplementedError, AttributeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise NotPlainTorch(f"torch.fx cannot trace it ({type(exc).__name__}: {first})") from exc
    gm = fx.GraphModule(tracer.root, graph, type(model).__name__)
    gm.graph.eliminate_dead_code()  # the shape comparisons a branch was decided on
    gm.recompile()
    return gm


# ---------------------------------------------------------------------------------------------- constructors

def _literal(value: Any) -> str:
    """``repr(value)`` when it reads back as the same Python literal; otherwise NotPlainTorch."""
    text = repr(value)
    try:
        if ast.literal_eval(text) == value:
            return text
    except (ValueError, SyntaxError):
        pass
    raise NotPlainTorch(f"the constructor argument {text} is not a Python literal")


def constructor(module: nn.Module) -> str:
    """``nn.Conv2d(8, 16, kernel_size=(3, 3), ...)``: the call that rebuilds ``module``'s configuration.

    Each ``__init__`` parameter is read from the attribute of the same name
    (how ``torch.nn`` layers keep them); ``bias``-like flags are whether the
    tensor is there.  The result is checked by the caller: the rebuilt network
    must load the weights strictly and give the same outputs.
    """
    cls = type(module)
    if getattr(nn, cls.__name__, None) is not cls:
        raise NotPlainTorch(f"layer {cls.__module__}.{cls.__qualname__} is not a torch.nn built-in")
    args = []
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or name in ("device", "dtype"):
            continue
        if not hasattr(module, name) or name.startswith("_"):
            if param.default is param.empty:
                raise NotPlainTorch(f"cannot tell {cls.__name__}'s constructor argument {name!r} from the layer")
            continue
        value = getattr(module, name)
        if isinstance(param.default, bool) and (value is None or isinstance(value, torch.Tensor)):
            value = value is not None  # bias=True/False, affine-like flags stored as the tensor itself
        if param.default is not param.empty and _same(value, param.default):
            continue
        args.append(f"{name}={_literal(value)}")
    return f"nn.{cls.__name__}({', '.join(args)})"


def _same(value: Any, default: Any) -> bool:
    try:
        return type(value) is type(default) and bool(value == default)
    except Exception:
        return False


# ---------------------------------------------------------------------------------------------- globals

#: globals the fx code generator may reference, and the line of model.py that defines each
_KNOWN_GLOBALS = {
    "torch": "import torch",
    "inf": "inf = math.inf",
    "nan": "nan = math.nan",
    "math": "import math",
    "operator": "import operator",
    "NoneType": "NoneType = type(None)",
    "device": "device = torch.device",
}


def _global_lines(code: fx.graph.PythonCode, body: str) -> list[str]:
    lines = []
    for name, value in sorted(code.globals.items()):
        if not re.search(rf"\b{re.escape(name)}\b", body):
            continue
        if name in _KNOWN_GLOBALS:
            lines.append(_KNOWN_GLOBALS[name])
            continue
        owner = getattr(value, "__module__", None) or getattr(value, "__name__", "")
        if isinstance(value, type(math)):
            owner = value.__name__
        if owner.split(".")[0] in ("torch", "math", "operator", "builtins") and hasattr(value, "__qualname__") \
                and "." not in value.__qualname__ and _importable(owner, value):
            lines.append(f"from {owner} import {value.__qualname__} as {name}")
        else:
            raise NotPlainTorch(f"its forward calls {owner}.{getattr(value, '__qualname__', name)}, which is not "
                                "part of torch (wrap it with torch.fx.wrap only when it is plain torch)")
    return lines


def _importable(owner: str, value: Any) -> bool:
    try:
        return getattr(importlib.import_module(owner), value.__qualname__) is value
    except (ImportError, AttributeError):
        return False


# ---------------------------------------------------------------------------------------------- the page

HEADER = '''"""{title}

Plain PyTorch, written by `nasplug export`: it needs torch only (not nasplug).

    import torch
    import model
    net = model.Model()
    net.load_state_dict(torch.load("weights.pt"))
    net(torch.randn({example_shape}))

The network is the eval-mode forward of the found architecture (no drop-path,
no auxiliary head); Model() starts in eval mode.
"""
'''


HELPERS = '''

def _parent(root, path):
    """The module that holds the dotted ``path`` (plain containers made on the way), and the last name."""
    *parents, name = path.split(".")
    for part in parents:
        if part not in root._modules:
            root.add_module(part, nn.Module())
        root = root._modules[part]
    return root, name


def _put(root, path, module):
    parent, name = _parent(root, path)
    parent.add_module(name, module)


def _tensor(root, path, shape, dtype, parameter):
    """An empty parameter or buffer at ``path``; load_state_dict fills it."""
    parent, name = _parent(root, path)
    value = torch.empty(shape, dtype=dtype)
    if parameter:
        parent.register_parameter(name, nn.Parameter(value))
    else:
        parent.register_buffer(name, value)
'''


def write_source(gm: fx.GraphModule, title: str, example_shape: tuple[int, ...]) -> tuple[str, dict[str, torch.Tensor]]:
    """``model.py``'s text and the state dict ``Model`` loads, for a traced network."""
    used_modules: dict[str, nn.Module] = {}
    loose: dict[str, torch.Tensor] = {}
    for node in gm.graph.nodes:
        if node.op == "call_module":
            used_modules[node.target] = gm.get_submodule(node.target)
        elif node.op == "get_attr":
            value = gm
            for atom in node.target.split("."):
                value = getattr(value, atom)
            if not isinstance(value, torch.Tensor):
                raise NotPlainTorch(f"its forward reads the non-tensor attribute {node.target!r}")
            loose[node.target] = value
    init = []
    state: dict[str, torch.Tensor] = {}
    for path, module in used_modules.items():
        init.append(f"        _put(self, {path!r}, {constructor(module)})")
        for key, value in module.state_dict().items():
            state[f"{path}.{key}"] = value.detach().clone()
    for path, value in loose.items():
        if path in state:  # a parameter of a layer already rebuilt
            continue
        parameter = isinstance(value, nn.Parameter)
        init.append(f"        _tensor(self, {path!r}, {tuple(value.shape)!r}, {value.dtype}, {parameter})")
        state[path] = value.detach().clone()
    code = gm.graph.python_code(root_module="self")
    body = code.src.strip("\n")
    imports = ["import math", "import torch", "from torch import nn"]
    extra = _global_lines(code, body)
    imports += [line for line in extra if line.startswith(("import ", "from ")) and line not in imports]
    definitions = [line for line in extra if not line.startswith(("import ", "from "))]
    text = HEADER.format(title=title, example_shape=", ".join(map(str, example_shape)))
    text += "\n" + "\n".join(imports) + "\n"
    if definitions:
        text += "\n" + "\n".join(definitions) + "\n"
    text += HELPERS
    text += "\n\nclass Model(nn.Module):\n"
    text += "    def __init__(self):\n        super().__init__()\n"
    text += "\n".join(init) + ("\n" if init else "")
    text += "        self.eval()\n\n"
    text += "\n".join("    " + line if line else "" for line in body.splitlines()) + "\n"
    return text, state


def load_source(text: str, name: str = "nasplug_exported_model") -> Any:
    """Execute ``model.py``'s text as a fresh module (for the check right after export)."""
    module = types.ModuleType(name)
    exec(compile(text, f"<{name}>", "exec"), module.__dict__)
    return module

