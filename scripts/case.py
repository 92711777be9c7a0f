"""Print the prediction and explain block of one validation case: python scripts/case.py ID [FILE]"""

import json
import sys

import yaml

from podwright.estimate.predict import predict
from podwright.specs.scenario import parse_scenario

cases = yaml.safe_load(
    open(sys.argv[2] if len(sys.argv) > 2 else "../shared/validation/published.yaml")
)["cases"]
for c in cases:
    if c["id"].startswith(sys.argv[1]):
        p = predict(parse_scenario(c["scenario"]), explain=True)
        ex = p.pop("explain")
        ex.pop("collectives", None)
        print(c["id"], c["measured"], c.get("note", "")[:300])
        print(json.dumps({k: p[k] for k in ("training", "layout") if k in p}, indent=0)[:1500])
        print(json.dumps(ex, indent=0))
