"""No code path of the library unpickles: the source (ast) holds no pickle-family import, no torch.load without
weights_only=True, no np.load with allow_pickle other than False, no read_pickle. Fails naming file:line."""
import ast
from pathlib import Path

import recsys_hash

PACKAGE = Path(recsys_hash.__file__).resolve().parent
#: modules whose import alone means unpickling somewhere
PICKLING_MODULES = {"pickle", "cPickle", "_pickle", "cloudpickle", "dill", "joblib", "shelve", "pickletools"}


def _name(node: ast.AST) -> str:
    """Dotted name of a call target: torch.load -> 'torch.load', np.load -> 'np.load', load -> 'load'."""
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def _keyword(call: ast.Call, name: str):
    """The literal value of keyword `name` (Ellipsis when given but not a literal; None when absent)."""
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value.value if isinstance(kw.value, ast.Constant) else ...
        if kw.arg is None:                                    # **kwargs: cannot be checked
            return ...
    return None


def unpickling_sites(source: str, filename: str) -> list[str]:
    """'file:line: what' for every unpickling construct in `source`."""
    found = []
    tree = ast.parse(source, filename)
    torch_loads = {"torch.load", "torch.serialization.load"}
    numpy_loads = {"np.load", "numpy.load"}
    nodes = sorted((n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom, ast.Call))),
                   key=lambda n: (not isinstance(n, (ast.Import, ast.ImportFrom)), n.lineno, n.col_offset))
    for node in nodes:                                        # imports first (they name the aliases), then calls
        where = f"{filename}:{node.lineno}"
        if isinstance(node, ast.Import):
            found += [f"{where}: import {a.name}" for a in node.names if a.name.split(".")[0] in PICKLING_MODULES]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if mod.split(".")[0] in PICKLING_MODULES:
                found.append(f"{where}: from {mod} import ...")
            for a in node.names:                              # from torch import load -> calls of `load` are torch.load
                if f"{mod}.{a.name}" in torch_loads:
                    torch_loads.add(a.asname or a.name)
                if f"{mod}.{a.name}" in numpy_loads:
                    numpy_loads.add(a.asname or a.name)
                if a.name == "read_pickle":
                    found.append(f"{where}: from {mod} import read_pickle")
        elif isinstance(node, ast.Call):
            name = _name(node.func)
            if name in torch_loads and _keyword(node, "weights_only") is not True:
                found.append(f"{where}: {name}(...) without weights_only=True")
            elif name in numpy_loads and _keyword(node, "allow_pickle") not in (None, False):
                found.append(f"{where}: {name}(..., allow_pickle=...) may unpickle")
            elif name.split(".")[-1] in ("read_pickle", "loads") and name.split(".")[0] in PICKLING_MODULES | {
                    "pd", "pandas"}:
                found.append(f"{where}: {name}(...)")
            elif name.endswith("read_pickle"):
                found.append(f"{where}: {name}(...)")
    return sorted(found, key=lambda site: int(site.split(":")[1]))


def test_the_scanner_finds_every_construct():
    src = "\n".join([
        "import pickle", "import joblib as jl", "from dill import loads", "import torch", "import numpy as np",
        "torch.load(p)", "torch.load(p, weights_only=False)", "torch.load(p, weights_only=flag)",
        "torch.load(p, weights_only=True)",                   # fine
        "np.load(p, allow_pickle=True)", "np.load(p)", "np.load(p, allow_pickle=False)",
        "from torch import load as tl", "tl(p)", "import pandas as pd", "pd.read_pickle(p)", "df.read_pickle(p)",
        "torch.load(p, **kw)",
    ])
    assert unpickling_sites(src, "x.py") == [
        "x.py:1: import pickle", "x.py:2: import joblib", "x.py:3: from dill import ...",
        "x.py:6: torch.load(...) without weights_only=True", "x.py:7: torch.load(...) without weights_only=True",
        "x.py:8: torch.load(...) without weights_only=True", "x.py:10: np.load(..., allow_pickle=...) may unpickle",
        "x.py:14: tl(...) without weights_only=True", "x.py:16: pd.read_pickle(...)", "x.py:17: df.read_pickle(...)",
        "x.py:18: torch.load(...) without weights_only=True",
    ]


def test_no_code_path_unpickles():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50                                    # the whole package is scanned
    found = [site for f in files for site in unpickling_sites(f.read_text(encoding="utf-8"),
                                                              str(f.relative_to(PACKAGE.parent)))]
    assert found == [], "code that may unpickle:\n" + "\n".join(found)
