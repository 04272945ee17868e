"""labeled-studies' Dawid-Skene posteriors and majority-vote ties recomputed with crowd-kit.

Reads JSON on standard input: {"counted": [[study, annotator, label], ...]}. Writes JSON:
{"posteriors": {study: {label: probability}}, "ties": {study: [tied labels]}}. The posteriors
come from crowdkit.aggregation.DawidSkene run for 300 rounds whatever its evidence lower bound
does (a negative tolerance), so it sits at the fixed point; the ties from counting the votes
here.
"""

import json
import sys
from collections import Counter

import pandas as pd
from crowdkit.aggregation import DawidSkene

data = json.load(sys.stdin)
frame = pd.DataFrame(data["counted"], columns=["task", "worker", "label"])
probas = DawidSkene(n_iter=300, tol=-1.0).fit_predict_proba(frame)
posteriors = {
    task: {label: float(p) for label, p in row.items()} for task, row in probas.iterrows()
}
ties = {}
for task, group in frame.groupby("task"):
    votes = Counter(group["label"])
    top = max(votes.values())
    leaders = sorted(label for label, n in votes.items() if n == top)
    if len(leaders) > 1:
        ties[task] = leaders
json.dump({"posteriors": posteriors, "ties": ties}, sys.stdout)
