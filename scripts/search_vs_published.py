"""For every public training case: search with the layout keys set to auto and compare the best
found layout with the published one (both as predicted by podwright).
Run: .venv/bin/python scripts/search_vs_published.py"""

import copy
import sys
import time

import yaml

from podwright.errors import InputError
from podwright.estimate.predict import predict
from podwright.search.layouts import search
from podwright.specs.scenario import parse_scenario

AUTO = ("tp", "pp", "cp", "vpp")
cases = yaml.safe_load(
    open(sys.argv[1] if len(sys.argv) > 1 else "../shared/validation/published.yaml")
)["cases"]
worse = 0
for c in cases:
    if not c["id"].startswith("train-"):
        continue
    s = copy.deepcopy(c["scenario"])
    par = s["training"].setdefault("parallel", {})
    for k in AUTO:
        par[k] = "auto"
    par.pop("dp", None)
    if par.get("ep", 1) not in (1, "auto"):
        par["ep"] = "auto"
    t0 = time.perf_counter()
    try:
        found = search(parse_scenario(s), top=1)["results"]
    except InputError as e:
        print(f"{c['id']:48s} search failed: {e}")
        worse += 1
        continue
    pub = predict(parse_scenario(c["scenario"]))
    f = found[0]["training"]["tokens_per_s_per_chip"] if found else 0.0
    p = pub["training"]["tokens_per_s_per_chip"]
    ok = f >= p * (1 - 1e-9) or not pub["fits"]
    worse += not ok
    print(
        f"{c['id']:48s} published {p:10.1f}  found {f:10.1f}  {'ok' if ok else 'WORSE'}  {time.perf_counter() - t0:.1f}s"
    )
print(f"{worse} cases where the search found nothing at least as fast")
