"""An audit of released tables that shares no code with fjq: scipy's linear programs.

Reads JSON from standard input: a list of tables, each
  {"levels": [L1, L2, ...], "cells": [{"key": [i or null, ...], "value": v, "suppressed": b}],
   "distinct": false}
where `key` gives each dimension's level (null: the total over it) and `value` the cell's true
count. The attacker knows every published cell's true value (stronger than knowing the rounded
one), and that counts are not negative. For counts of rows (`distinct` false) margins are sums
of their interior cells. For counts of distinct persons (`distinct` true) a person may be in
several cells, so a margin is the size of a union: at least each of the cells it covers along
any one dimension and at most their sum. For every suppressed cell the script solves min and
max of its value; it prints, per table, the list of [low, high] for each cell in input order
(null for published cells).
"""

import itertools
import json
import sys

import numpy as np
from scipy.optimize import linprog


def audit(table):
    levels = table["levels"]
    interior = list(itertools.product(*[range(n) for n in levels]))
    index = {k: i for i, k in enumerate(interior)}

    def covered(key):
        row = np.zeros(len(interior))
        for k in interior:
            if all(want is None or want == have for want, have in zip(key, k)):
                row[index[k]] = 1.0
        return row

    rows, values = [], []
    for cell in table["cells"]:
        if not cell["suppressed"]:
            rows.append(covered(cell["key"]))
            values.append(float(cell["value"]))
    a_eq = np.array(rows) if rows else None
    b_eq = np.array(values) if rows else None
    bounds = [(0, None)] * len(interior)
    out = []
    for cell in table["cells"]:
        if not cell["suppressed"]:
            out.append(None)
            continue
        c = covered(cell["key"])
        low = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        high = linprog(-c, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        if low.status != 0:
            raise SystemExit(f"infeasible system for {cell}: {low.message}")
        top = None if high.status == 3 else -high.fun  # status 3: unbounded above
        out.append([low.fun, top])
    return out


def audit_distinct(table):
    """Every cell is a variable; published ones are fixed; each cell with a total over a
    dimension lies between the largest and the sum of its cells along that dimension."""
    levels = table["levels"]
    cells = table["cells"]
    index = {tuple(c["key"]): i for i, c in enumerate(cells)}
    n = len(cells)
    a_ub, b_ub = [], []
    for i, cell in enumerate(cells):
        key = cell["key"]
        for d, level in enumerate(key):
            if level is not None:
                continue
            children = [index[tuple(key[:d] + [l] + key[d + 1:])] for l in range(levels[d])]
            row = np.zeros(n)  # margin - sum(children) <= 0
            row[i] = 1.0
            for c in children:
                row[c] -= 1.0
            a_ub.append(row)
            b_ub.append(0.0)
            for c in children:  # child - margin <= 0
                row = np.zeros(n)
                row[c] = 1.0
                row[i] = -1.0
                a_ub.append(row)
                b_ub.append(0.0)
    bounds = [(c["value"], c["value"]) if not c["suppressed"] else (0, None) for c in cells]
    out = []
    for i, cell in enumerate(cells):
        if not cell["suppressed"]:
            out.append(None)
            continue
        c = np.zeros(n)
        c[i] = 1.0
        low = linprog(c, A_ub=np.array(a_ub), b_ub=np.array(b_ub), bounds=bounds, method="highs")
        high = linprog(-c, A_ub=np.array(a_ub), b_ub=np.array(b_ub), bounds=bounds, method="highs")
        if low.status != 0:
            raise SystemExit(f"infeasible system for {cell}: {low.message}")
        top = None if high.status == 3 else -high.fun
        out.append([low.fun, top])
    return out


print(json.dumps([audit_distinct(t) if t.get("distinct") else audit(t) for t in json.load(sys.stdin)]))
