"""The analysis benchmark's peer: the same experiment report computed the way a data team
would without flagtrail, in Python over the warehouse with the standard sqlite3 module, numpy
and SciPy.

    experiment_python.py DB FLAG EVENT

Prints a JSON document with, per arm, the units and, per metric (conversion and sum of EVENT),
n, mean and variance, Welch's p-value against control (off), and the quarantined count.
"""
import json
import sqlite3
import sys

import numpy as np
from scipy import stats


def main(db, flag, event):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    seen = {}
    rows = con.execute("SELECT identity, enabled, received_at FROM ft_evaluations"
                       " WHERE feature_name = ?", (flag,))
    for identity, enabled, received_at in rows:
        arm = "on" if enabled else "off"
        unit = seen.get(identity)
        if unit is None:
            seen[identity] = [arm, received_at, False]
            continue
        if unit[0] != arm:
            unit[2] = True
        if received_at < unit[1]:
            unit[1] = received_at
    units = {i: (u[0], u[1]) for i, u in seen.items() if not u[2]}
    conversion, total = {}, {}
    for identity, occurred_at, value in con.execute(
            "SELECT identity, occurred_at, value FROM ft_event WHERE event = ?", (event,)):
        unit = units.get(identity)
        if unit is None or occurred_at < unit[1]:
            continue
        conversion[identity] = 1.0
        total[identity] = total.get(identity, 0.0) + (value or 0.0)
    report = {"quarantined": len(seen) - len(units), "arms": {}, "metrics": {}}
    by_arm = {}
    for identity, (arm, _) in units.items():
        by_arm.setdefault(arm, []).append(identity)
    report["arms"] = {arm: len(ids) for arm, ids in sorted(by_arm.items())}
    for name, per_unit in (("conversion", conversion), ("sum", total)):
        values = {arm: np.array([per_unit.get(i, 0.0) for i in ids]) for arm, ids in by_arm.items()}
        m = {arm: {"n": len(x), "mean": float(x.mean()), "variance": float(x.var(ddof=1))}
             for arm, x in values.items()}
        m["p_value"] = float(stats.ttest_ind(values["on"], values["off"], equal_var=False).pvalue)
        report["metrics"][name] = m
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main(*sys.argv[1:4])
