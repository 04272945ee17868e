"""The real DICOM files measured with pydicom and numpy, independently of image-quality.

Reads a JSON list of file paths on standard input; writes JSON: per file name either
{"decoded": false, "why": ...} or the header facts pydicom reads and the measures of the first
frame's pixel values after RescaleSlope/RescaleIntercept, in float64, two-pass:
mean, population standard deviation, min, max, the variance of the 4-neighbour Laplacian
over the interior pixels and Immerkaer's noise sigma.
"""

import json
import math
import os
import sys

import numpy as np
import pydicom

out = {}
for path in json.load(sys.stdin):
    name = os.path.basename(path)
    try:
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array
    except Exception as e:  # noqa: BLE001 - any failure means "not decodable here"
        out[name] = {"decoded": False, "why": f"{type(e).__name__}: {e}"}
        continue
    if getattr(ds, "SamplesPerPixel", 1) != 1:
        out[name] = {"decoded": False, "why": "colour"}
        continue
    if pixels.ndim == 3:
        pixels = pixels[0]
    slope = float(getattr(ds, "RescaleSlope", 1.0))
    intercept = float(getattr(ds, "RescaleIntercept", 0.0))
    v = pixels.astype(np.float64) * slope + intercept
    centre = v[1:-1, 1:-1]
    sides = v[:-2, 1:-1] + v[2:, 1:-1] + v[1:-1, :-2] + v[1:-1, 2:]
    corners = v[:-2, :-2] + v[:-2, 2:] + v[2:, :-2] + v[2:, 2:]
    laplacian = sides - 4.0 * centre
    noise = np.abs(corners - 2.0 * sides + 4.0 * centre)
    out[name] = {
        "decoded": True,
        "modality": str(getattr(ds, "Modality", "")) or None,
        "rows": int(ds.Rows),
        "columns": int(ds.Columns),
        "bits_stored": int(ds.BitsStored),
        "transfer_syntax": str(ds.file_meta.TransferSyntaxUID),
        "rescale": [slope, intercept],
        "mean": float(v.mean()),
        "std": float(v.std()),
        "min": float(v.min()),
        "max": float(v.max()),
        "sharpness": float(laplacian.var()),
        "noise": float(math.sqrt(math.pi / 2) * noise.sum() / (6.0 * centre.size)),
    }
json.dump(out, sys.stdout)
