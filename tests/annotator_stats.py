"""annotator-quality's figures recomputed with scikit-learn and statsmodels.

Reads JSON on standard input: {"counted": [[study, annotator, label], ...],
"truth": [[study, diagnosis], ...], "positive": "malignant", "confidence": 0.95}.
Writes JSON: per annotator the leave-one-out consensus figures (kappa by
sklearn.metrics.cohen_kappa_score, its standard error by statsmodels' cohens_kappa, sensitivity
and specificity with statsmodels' Wilson intervals), and the panel's Fleiss' kappa by
statsmodels' fleiss_kappa. Nothing here is taken from the product.
"""

import json
import sys
from collections import Counter, defaultdict

import numpy as np
from scipy.stats import norm
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa, fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

data = json.load(sys.stdin)
alpha = 1.0 - data["confidence"]
positive = data["positive"]
truth = dict(data["truth"])

labels_of_study = defaultdict(dict)
for study, annotator, label in data["counted"]:
    labels_of_study[study][annotator] = label

by_annotator = defaultdict(list)
for study, annotator, label in data["counted"]:
    by_annotator[annotator].append((study, label))


def leave_one_out(study, annotator):
    votes = Counter(l for a, l in labels_of_study[study].items() if a != annotator)
    if not votes:
        return None
    ranked = votes.most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0][0]


def wilson(successes, trials):
    if trials == 0:
        return None
    low, high = proportion_confint(successes, trials, alpha=alpha, method="wilson")
    return [successes / trials, low, high]


annotators = {}
for annotator, studies in by_annotator.items():
    mine, theirs = [], []
    for study, label in studies:
        consensus = leave_one_out(study, annotator)
        if consensus is not None:
            mine.append(label)
            theirs.append(consensus)
    figures = {"compared": len(mine)}
    categories = sorted(set(mine) | set(theirs))
    if len(mine) > 0 and len(categories) > 1:
        figures["kappa"] = cohen_kappa_score(mine, theirs)
        table = np.zeros((len(categories), len(categories)))
        for a, b in zip(mine, theirs):
            table[categories.index(a), categories.index(b)] += 1
        result = cohens_kappa(table)
        z = norm.isf(alpha / 2)
        figures["kappa_low"] = result.kappa - z * result.std_kappa
        figures["kappa_high"] = result.kappa + z * result.std_kappa
        if alpha == 0.05:
            assert abs(result.kappa_low - figures["kappa_low"]) < 1e-12
    judged = [(label == positive, truth[s] == positive) for s, label in studies if s in truth]
    tp = sum(1 for p, a in judged if p and a)
    fn = sum(1 for p, a in judged if not p and a)
    tn = sum(1 for p, a in judged if not p and not a)
    fp = sum(1 for p, a in judged if p and not a)
    figures["sensitivity"] = wilson(tp, tp + fn)
    figures["specificity"] = wilson(tn, tn + fp)
    annotators[annotator] = figures

rated = [study for study, labels in labels_of_study.items() if len(labels) >= 2]
raters = sorted({len(labels_of_study[s]) for s in rated})
if len(raters) != 1:
    sys.exit(f"statsmodels' fleiss_kappa needs the same number of raters per study; found {raters}")
subjects = [[labels_of_study[s][a] for a in sorted(labels_of_study[s])] for s in rated]
counts, _ = aggregate_raters(np.array(subjects, dtype=object))
panel = {"studies": len(rated), "fleiss_kappa": fleiss_kappa(counts, method="fleiss")}

json.dump({"annotators": annotators, "panel": panel}, sys.stdout)
