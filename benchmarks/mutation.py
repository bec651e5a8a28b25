"""Mutation testing of the code that decides verdicts: single-point bugs, each run against the tests
that exercise it; a bug that passes them all is a missing test (or an equivalent mutant).

    nice -n 5 python -m benchmarks.mutation [--sample N] [--seed S] [--only PATTERN] [--listed-only]
                                            [--timeout-factor F] [--out FILE]

The deciding functions (``TARGETS``: the prover and its vacuity rule, the manifolds, the frozen
hypothesis, the verdict rules of the checks, colour refinement, the dead-unit measures and certificate, the
continual family's verdict rules, Definition 4.2's inertia classes) are parsed with
``ast``; every point where one operator can be swapped is a mutant:

- comparisons ``<``↔``<=``, ``>``↔``>=``, ``==``↔``!=``, ``is``↔``is not``, ``in``↔``not in``;
- ``and``↔``or``; ``not x`` → ``x``; ``+``↔``-``, ``*`` → ``/``;
- numbers: an int n → n + 1, a float x → 2x (and 1e-3 added to thresholds below 1); ``True``↔``False``;
- a verdict string → the verdict that would hide it (proved ↔ inconclusive, refuted → proved, …);
- ``if c:`` → ``if True:`` / ``if False:`` (a guard removed or forced).

Plus ``LISTED``, the deliberate bugs of issue 12 written as text replacements. ``--sample N`` draws N
of the generated mutants at random (seeded; all of them by default) and always runs the listed ones.
Each mutant: the module is rewritten (``ast.unparse``) in a scratch copy of the repository and the
target's tests run there (``pytest -x``); a failing test kills it, a run longer than
``--timeout-factor`` × the unmutated run counts as killed (a hang). Prints one line per mutant, the
kill rate and the survivors with their source line, and writes them as JSON (``--out``).
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERDICTS = {"proved": "inconclusive", "inconclusive": "proved", "refuted": "proved",
            "confirmed": "inconclusive", "qualified": "proved"}

# (module, deciding functions ("Class.method" for methods), the tests that exercise them)
TARGETS = [
    ("theory/invariance.py", ["Proof.vacuous", "Proof.verdict", "Proof.nonzero", "prove", "normal_support",
                              "normal_gradient", "forward_differences", "backward_differences", "_pairs",
                              "counterexample"],
     ["tests/test_bad_input.py", "tests/test_teeth.py", "tests/test_cloned_symbolic.py",
      "tests/test_frozen_symbolic.py"]),
    ("theory/manifolds.py", ["frozen", "_equitable_rows", "_summed_edges", "block_constant",
                             "clone_manifold", "AffineManifold.contains", "AffineManifold.residual",
                             "AffineManifold.parametrize", "check_partition"],
     ["tests/test_bad_input.py", "tests/test_teeth.py", "tests/test_cloned_symbolic.py",
      "tests/test_frozen_symbolic.py"]),
    ("theory/frozen.py", ["live", "nonzero_somewhere", "frozen_hypothesis", "frozen_gradient"],
     ["tests/test_teeth.py", "tests/test_frozen_symbolic.py"]),
    ("checks/common.py", ["optimizer_verdict", "excludes_zero"],
     ["tests/test_teeth.py", *[f"tests/test_continual.py::test_{t}" for t in (
         "symptoms_decision", "cbp_decision", "escape_decision",
         "spearman_within_configurations_sees_what_pooling_hides")]]),
    ("checks/cloned.py", ["_verdict", "_control", "trajectory", "control_incoming_only",
                          "trajectory_unequal_degrees", "dimension"],
     ["tests/test_teeth.py", "tests/test_bad_input.py", "tests/test_cloned_symbolic.py"]),
    ("checks/frozen.py", ["_generic_evidence", "_planted_evidence", "manifold_box_condition"],
     ["tests/test_teeth.py", "tests/test_bad_input.py", "tests/test_frozen_symbolic.py"]),
    ("checks/rank.py", ["_first_order"], ["tests/test_teeth.py", "tests/test_rank.py"]),
    ("cases/equivalence.py", ["coarsest_equitable_partition", "_refine_layer", "_leaders", "_gap_groups",
                              "_distance", "canonical", "_scale"],
     ["tests/test_teeth.py", "tests/test_equivalence.py"]),
    ("numerics/metrics.py", ["_within", "flat_mask", "flat_extremes", "exact_dead", "paper_dead",
                             "_paper_dead", "_dormancy", "dormant", "_saturated", "duplicates",
                             "sign_certificate", "norm_certificate"],
     ["tests/test_teeth.py", "tests/test_metrics.py", "tests/test_bad_input.py"]),
    ("numerics/unitgraph.py", ["relu_like", "certify", "_sum_state", "_single_chain"],
     ["tests/test_teeth.py", "tests/test_probes.py"]),
    ("checks/continual.py", ["symptoms_verdict", "normalization_verdict", "cbp_verdict", "escape_verdict",
                             "manifolds_verdict"],
     [f"tests/test_continual.py::test_{t}" for t in ("symptoms_decision", "normalization_decision",
                                                      "cbp_decision", "escape_decision",
                                                      "spearman_within_configurations_sees_what_pooling_hides")]
     + ["tests/test_teeth.py::test_the_manifolds_verdict_refutes_only_strictly_below_the_weak_bound"]),
    ("theory/curvature.py", ["zero_tolerance", "inertia", "classify"],
     [f"tests/test_stability.py::test_{t}" for t in (
         "classify_follows_definition_4_2_with_neutral_directions",
         "inertia_counts_with_the_stated_tolerance_and_refuses_an_empty_spectrum",
         "controls_come_out_refuted",
         "a_swapped_class_rule_is_caught_by_the_planted_control")]),
]

# issue 12's deliberate bugs: (name, module, text, replacement)
LISTED = [
    ("refinement stops after one round", "cases/equivalence.py",
     "    while any(dirty):", "    while any(dirty) and rounds < 1:"),
    ("flat set's closed end made open at the kink", "numerics/metrics.py",
     "(z < hi if hi_open else z <= hi)", "(z < hi)"),
    ("δ-difference of cloned.backward vanishes", "theory/invariance.py",
     '"δ({a}) − δ({b}) at x^({i})": delta[a] - delta[b]',
     '"δ({a}) − δ({b}) at x^({i})": delta[a] - delta[a]'),
    ("inconclusive becomes proved in the cloned checks", "checks/cloned.py",
     '    if any(r.proof.verdict == "inconclusive" for r in runs):\n        return "inconclusive", None',
     '    if any(r.proof.verdict == "inconclusive" for r in runs):\n        return "proved", None'),
    ("unbounded residual tolerance in cloned gradient descent", "checks/cloned.py",
     "    tol = 10.0 ** (10 - DPS)", "    tol = math.inf"),
    ("frozen vacuity guard removed", "checks/frozen.py", "    if dead_weight:", "    if False:"),
    ("and → or in the rank lemma's criterion", "checks/rank.py",
     "abs(dev[-1]) <= LEMMA_TOL and abs(dev[-1])", "abs(dev[-1]) <= LEMMA_TOL or abs(dev[-1])"),
    ("paper dead threshold shifted by 1e-3", "numerics/metrics.py",
     "PAPER_DEAD_THRESHOLD = 1e-7", "PAPER_DEAD_THRESHOLD = 1e-7 + 1e-3"),
    ("flat-set end shifted by 1e-3", "numerics/metrics.py",
     "float(p.end), bool(p.left_open)", "float(p.end) + 1e-3, bool(p.left_open)"),
    ("prover: a vacuous quantity proved", "theory/invariance.py",
     "        if self.vacuous:\n            return \"inconclusive\"", "        if False:\n            pass"),
]

SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
        ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
BINOP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div}


@dataclass
class Mutant:
    module: str
    function: str
    line: int
    what: str
    index: int = -1          # the point's index in the module's walk (generated mutants)
    variant: int = 0
    listed: str = ""         # the deliberate bug's name (listed mutants)
    outcome: str = ""
    seconds: float = 0.0
    killer: str = ""


def _functions(tree: ast.Module, names: list[str]) -> list[tuple[str, ast.AST]]:
    out = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
            out.append((node.name, node))
        if isinstance(node, ast.ClassDef):
            out += [(f"{node.name}.{f.name}", f) for f in node.body
                    if isinstance(f, ast.FunctionDef) and f"{node.name}.{f.name}" in names]
    return out


def _variants(node: ast.AST) -> list[str]:
    """The single-point changes at this node (described), in a fixed order."""
    if isinstance(node, ast.Compare):
        return [f"{type(op).__name__} → {SWAP[type(op)].__name__} (operand {k})"
                for k, op in enumerate(node.ops) if type(op) in SWAP]
    if isinstance(node, ast.BoolOp):
        return [f"{type(node.op).__name__} → {'Or' if isinstance(node.op, ast.And) else 'And'}"]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return ["not x → x"]
    if isinstance(node, ast.BinOp) and type(node.op) in BINOP:
        return [f"{type(node.op).__name__} → {BINOP[type(node.op)].__name__}"]
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool):
            return [f"{v} → {not v}"]
        if isinstance(v, int):
            return [f"{v} → {v + 1}"]
        if isinstance(v, float):
            return [f"{v} → {2 * v}"] + ([f"{v} → {v + 1e-3}"] if abs(v) < 1 else [])
        if isinstance(v, str) and v in VERDICTS:
            return [f"'{v}' → '{VERDICTS[v]}'"]
    if isinstance(node, ast.If):
        return ["if c → if True", "if c → if False"]
    return []


def _apply(node: ast.AST, variant: int) -> ast.AST:
    if isinstance(node, ast.Compare):
        k = [i for i, op in enumerate(node.ops) if type(op) in SWAP][variant]
        node.ops[k] = SWAP[type(node.ops[k])]()
    elif isinstance(node, ast.BoolOp):
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif isinstance(node, ast.UnaryOp):
        return node.operand
    elif isinstance(node, ast.BinOp):
        node.op = BINOP[type(node.op)]()
    elif isinstance(node, ast.Constant):
        v = node.value
        node.value = (not v if isinstance(v, bool) else v + 1 if isinstance(v, int) else
                      (2 * v if variant == 0 else v + 1e-3) if isinstance(v, float) else VERDICTS[v])
    elif isinstance(node, ast.If):
        node.test = ast.Constant(variant == 0)
    return node


class _Replace(ast.NodeTransformer):
    def __init__(self, target: int, variant: int):
        self.count, self.target, self.variant = -1, target, variant

    def generic_visit(self, node):
        self.count += 1
        if self.count == self.target:
            return _apply(node, self.variant)
        return super().generic_visit(node)


def _docstring(node: ast.AST, parents: dict) -> bool:
    parent = parents.get(node)
    return (isinstance(node, ast.Constant) and isinstance(parent, ast.Expr)) or isinstance(
        parent, ast.JoinedStr) or isinstance(parents.get(parent), ast.JoinedStr)


def generated(module: str, names: list[str]) -> list[Mutant]:
    tree = ast.parse((ROOT / module).read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    inside: dict[ast.AST, str] = {}
    for name, fn in _functions(tree, names):
        for node in ast.walk(fn):
            inside[node] = name
    missing = set(names) - {n for n, _ in _functions(tree, names)}
    if missing:
        raise SystemExit(f"{module}: no function {', '.join(sorted(missing))}")
    out, counter = [], _Counter()
    counter.visit(tree)
    for index, node in enumerate(counter.order):
        if node not in inside or _docstring(node, parents):
            continue
        for variant, what in enumerate(_variants(node)):
            out.append(Mutant(module, inside[node], getattr(node, "lineno", 0), what, index, variant))
    return out


class _Counter(ast.NodeVisitor):
    """Nodes in the order ``_Replace`` visits them (pre-order, generic_visit)."""

    def __init__(self):
        self.order: list[ast.AST] = []

    def generic_visit(self, node):
        self.order.append(node)
        super().generic_visit(node)


def mutated_source(m: Mutant) -> str:
    text = (ROOT / m.module).read_text()
    if m.listed:
        old, new = next((o, n) for name, _, o, n in LISTED if name == m.listed)
        if text.count(old) != 1:
            raise SystemExit(f"listed mutant {m.listed!r}: the text to replace occurs {text.count(old)} "
                             "times")
        return text.replace(old, new)
    tree = _Replace(m.index, m.variant).visit(copy.deepcopy(ast.parse(text)))
    return ast.unparse(ast.fix_missing_locations(tree))


def run_tests(work: Path, tests: list[str], timeout: float | None) -> tuple[str, float, str]:
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(work), "HYPOTHESIS_PROFILE": "ci", "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                              cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "killed (timeout)", time.perf_counter() - start, "timeout"
    seconds = time.perf_counter() - start
    if proc.returncode == 0:
        return "survived", seconds, ""
    failed = next((line.split(" ")[1] for line in proc.stdout.splitlines() if line.startswith("FAILED")),
                  proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else f"exit {proc.returncode}")
    return "killed", seconds, failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sample", type=int, default=0, help="generated mutants to draw (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="", help="only targets whose module contains this text (several: "
                                              "comma-separated)")
    ap.add_argument("--listed-only", action="store_true", help="only issue 12's deliberate bugs")
    ap.add_argument("--timeout-factor", type=float, default=4.0)
    ap.add_argument("--out", default="", help="write every mutant and its outcome as JSON")
    ap.add_argument("--rerun", default="", help="run again only the survivors of an --out file (after new "
                                                "tests): which of them the new tests kill")
    args = ap.parse_args()

    only = args.only.split(",")
    targets = [t for t in TARGETS if any(o in t[0] for o in only)]
    tests_of = {module: tests for module, _, tests in TARGETS}
    pool = [] if args.listed_only else [m for module, names, _ in targets for m in generated(module, names)]
    total = len(pool)
    if args.sample and args.sample < total:
        pool = sorted(random.Random(args.seed).sample(pool, args.sample), key=lambda m: (m.module, m.index))
    listed = [Mutant(module, "", 0, name, listed=name) for name, module, _, _ in LISTED
              if any(o in module for o in only)]
    if args.rerun:  # the source must be unchanged since that run, or the indices point elsewhere
        fields = ("module", "function", "line", "what", "index", "variant", "listed")
        survivors = [Mutant(**{k: r[k] for k in fields}) for r in json.loads(Path(args.rerun).read_text())
                     if r["outcome"] == "survived"]
        listed, pool = [m for m in survivors if m.listed], [m for m in survivors if not m.listed]
    mutants = listed + pool
    print(f"{total} generated mutants in {len(targets)} modules; running {len(pool)} of them "
          f"(seed {args.seed}) and {len(listed)} listed ones", flush=True)

    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        work = Path(tmp) / "repo"
        files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                               check=True).stdout.split()
        for f in files:
            (work / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, work / f)
        baseline = {}
        for module in dict.fromkeys(m.module for m in mutants):
            outcome, seconds, why = run_tests(work, tests_of[module], None)
            if outcome != "survived":
                raise SystemExit(f"the tests of {module} fail without any mutation: {why}")
            baseline[module] = seconds
            print(f"baseline {module}: {seconds:.1f} s", flush=True)
        for k, m in enumerate(mutants, 1):
            original = (work / m.module).read_text()
            (work / m.module).write_text(mutated_source(m))
            try:
                m.outcome, m.seconds, m.killer = run_tests(work, tests_of[m.module],
                                                           args.timeout_factor * baseline[m.module] + 30)
            finally:
                (work / m.module).write_text(original)
            label = m.listed or f"{m.function}:{m.line} {m.what}"
            print(f"[{k}/{len(mutants)}] {m.outcome:17s} {m.module} {label} ({m.seconds:.0f} s) {m.killer}",
                  flush=True)

    for group, ms in (("listed (issue 12)", listed), ("generated", pool)):
        if ms:
            killed = sum(m.outcome.startswith("killed") for m in ms)
            print(f"\n{group}: {killed} of {len(ms)} killed ({100 * killed / len(ms):.1f}%)")
    survivors = [m for m in mutants if m.outcome == "survived"]
    print(f"\nsurvivors ({len(survivors)}):")
    for m in survivors:
        source = (ROOT / m.module).read_text().splitlines()[m.line - 1].strip() if m.line else ""
        print(f"  {m.module}:{m.line} {m.listed or m.function}: {m.what}   | {source}")
    if args.out:
        Path(args.out).write_text(json.dumps([asdict(m) for m in mutants], indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
