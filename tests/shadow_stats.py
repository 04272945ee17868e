"""shadow-models' comparison and calibration figures recomputed independently.

Reads JSON on standard input: {"predictions": [[sample_id, model_id, score, diagnosis|null],
...], "production": model_id, "confidence": 0.95, "bins": 10}. Writes JSON per model: AUC
(sklearn.metrics.roc_auc_score), Brier score (sklearn.metrics.brier_score_loss), expected
calibration error (numpy, equal-width bins), and for each other model DeLong's test against
production written from its definition: the structural components as pair counts over every
positive-negative pair (not midranks), their covariances, a normal interval and a two-sided
p-value from scipy.
"""

import json
import sys
from collections import defaultdict

import numpy as np
from scipy.stats import norm
from sklearn.metrics import brier_score_loss, roc_auc_score

data = json.load(sys.stdin)
scores = defaultdict(dict)
truth = {}
for sample, model, score, diagnosis in data["predictions"]:
    scores[model][sample] = score
    if diagnosis is not None:
        truth[sample] = diagnosis == "malignant"
samples = sorted(truth)
y = np.array([truth[s] for s in samples])


def components(p):
    pos, neg = p[y], p[~y]
    psi = (pos[:, None] > neg[None, :]).astype(float) + 0.5 * (pos[:, None] == neg[None, :])
    return psi.mean(axis=1), psi.mean(axis=0)


z = norm.isf((1 - data["confidence"]) / 2)
bins = data["bins"]
production = np.array([scores[data["production"]][s] for s in samples])
v10_p, v01_p = components(production)
out = {}
for model, by_sample in scores.items():
    p = np.array([by_sample[s] for s in samples])
    index = np.minimum((np.clip(p, 0, 1) * bins).astype(int), bins - 1)
    ece = sum(
        (index == b).sum() / len(p) * abs(y[index == b].mean() - p[index == b].mean())
        for b in range(bins)
        if (index == b).any()
    )
    figures = {
        "auc": roc_auc_score(y, p),
        "brier": brier_score_loss(y, p),
        "ece": ece,
    }
    if model != data["production"]:
        v10, v01 = components(p)
        s10 = np.cov(np.vstack([v10, v10_p]))
        s01 = np.cov(np.vstack([v01, v01_p]))
        variance = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / len(v10) + (
            s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]
        ) / len(v01)
        difference = v10.mean() - v10_p.mean()
        se = np.sqrt(variance)
        figures["auc_difference"] = difference
        figures["auc_difference_low"] = difference - z * se
        figures["auc_difference_high"] = difference + z * se
        figures["p_value"] = 2 * norm.sf(abs(difference) / se) if se > 0 else 1.0
    out[model] = figures
json.dump(out, sys.stdout)
