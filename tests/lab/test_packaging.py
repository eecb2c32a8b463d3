"""The boundary between the library and the lab, and the install layout."""

import ast
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).parents[2]
LAB_DIRS = {"theory", "approx", "experiments", "paper_figs"}


def _python_files(*folders: str):
    for folder in folders:
        yield from (ROOT / folder).rglob("*.py")


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_package_list_names_every_package_folder_under_its_namespace():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = cfg["package-dir"]
    assert set(mapping.values()) == LAB_DIRS
    expected = set()
    for name, folder in [*mapping.items(), ("sobolev", "sobolev"), ("sobolev_lab", "sobolev_lab")]:
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            expected.add(".".join([name, *rel.parts]))
    assert set(cfg["packages"]) == expected


def test_no_code_imports_the_study_folders_by_their_bare_names():
    offenders = [
        str(p.relative_to(ROOT))
        for p in _python_files("sobolev", "sobolev_lab", *LAB_DIRS, "tests", "benchmarks")
        if _imported_roots(p) & LAB_DIRS
    ]
    assert offenders == []


def test_the_library_imports_nothing_from_the_lab_or_its_extras():
    offenders = [
        str(p.relative_to(ROOT))
        for p in _python_files("sobolev")
        if _imported_roots(p) & {"sobolev_lab", "sympy", "matplotlib", "joblib", "smt"}
    ]
    assert offenders == []


# sympy is left out: torch itself imports it (a dependency of torch, not of ours); the
# static test above keeps `sobolev` from importing it.
BLOCKED = ["sobolev_lab", "sklearn", "scipy", "matplotlib", "joblib", "smt", "pandas"]

SCRIPT = f"""
import sys
for name in {BLOCKED!r}:
    sys.modules[name] = None  # `import name` now raises ImportError, as if not installed
import numpy as np, torch
import sobolev as sb
torch.set_num_threads(1)
x = torch.rand(16, 2, dtype=torch.float64)
t = sb.Target.from_function(lambda z: (z**2).sum(1))
m = sb.MLP(2, 1, (8,), "tanh").double()
h = sb.fit(m, x, t, loss=sb.SobolevLoss(order=1), steps=3, progress=False)
y, J = sb.value_and_jacobian(m, x)
assert J.shape == (16, 1, 2) and len(h["total"]) == 3
st = sb.Standardizer.fit(np.random.rand(5, 2), np.random.rand(5))
loaded = [k for k, v in sys.modules.items() if v is not None and k.split(".")[0] in {BLOCKED!r}]
print("ok", loaded)
"""


def test_import_sobolev_works_with_only_torch_and_numpy():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok []"
