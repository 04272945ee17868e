"""The web UI in a real browser: Debian's Chromium, driven by Playwright, over the demo mesh.

Reads a JSON object on standard input: {"base": URL, "admin": TOKEN, "screenshots": DIR}.
Opens every kind of page, clicks from the catalog to a product, a view, a run and the mesh,
checks that each chart is an SVG with one mark per datum (the expected counts computed here
from the published data read over the API), that a port an anonymous visitor may not read
shows no data, that sign-in works, and that the pages fit a 390 px wide screen. Fails on any
console error, page error, failed request or error response. Prints one `ok ...` line per check.
"""

import json
import os
import sys
import urllib.request

import altair
from playwright.sync_api import sync_playwright

given = json.load(sys.stdin)
BASE = given["base"]
ADMIN = given["admin"]
SHOTS = given["screenshots"]
os.makedirs(SHOTS, exist_ok=True)

# Every data mark, and nothing else, is drawn at this opacity (see views/svg.rs).
MARK = '[opacity="0.85"]'


def api(path):
    request = urllib.request.Request(BASE + path, headers={"Authorization": f"Bearer {ADMIN}"})
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)


def rows(product, port):
    return api(f"/v1/products/{product}/outputs/{port}?format=json")


def non_empty_bins(values, bins=20):
    """numpy.histogram's non-empty bins: equal widths between min and max, the last closed."""
    lo, hi = min(values), max(values)
    if hi == lo:
        return 1
    counts = [0] * bins
    for v in values:
        at = min(int((v - lo) / (hi - lo) * bins), bins - 1)
        counts[at] += 1
    return sum(1 for c in counts if c)


def ok(message):
    print(f"ok {message}", flush=True)


problems = []


def watch(page):
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url} {r.failure}"))
    page.on("response", lambda r: problems.append(f"{r.status} for {r.url}")
            if r.status >= 400 else None)


def marks(page, view):
    figure = page.locator(f"#view-{view}")
    return figure.locator(f"svg {MARK}").count()


with sync_playwright() as p:
    browser = p.chromium.launch(
        executable_path="/usr/bin/chromium",
        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    )
    wide = browser.new_context(viewport={"width": 1280, "height": 900})
    page = wide.new_page()
    watch(page)

    # The catalog: every demo product; the skip link comes first on the keyboard.
    page.goto(BASE + "/")
    products = api("/v1/products?per_page=200")["products"]
    assert page.locator("article.card").count() == len(products) == 5, page.content()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.screenshot(path=f"{SHOTS}/catalog-1280.png", full_page=True)
    ok("the catalog lists the five products")

    # Filters: one domain.
    page.select_option("#domain", "labeling")
    page.click("form.filters button")
    page.wait_for_url("**/?*domain=labeling*")
    labeling = [p for p in products if p["domain"] == "labeling"]
    assert page.locator("article.card").count() == len(labeling)
    ok(f"the domain filter keeps {len(labeling)} products")

    # A domain's page, from a product's card.
    page.locator("article.card a[href='/domains/labeling']").first.click()
    page.wait_for_url("**/domains/labeling")
    assert page.locator("tbody tr").count() == len(labeling)
    ok("a domain's page lists its products")

    # From the catalog to a product and its dashboards.
    page.goto(BASE + "/")
    page.click("text=labeled-studies")
    page.wait_for_url("**/products/labeled-studies")
    counts = rows("labeled-studies", "label_counts")
    assert marks(page, "label-distribution") == len(counts), marks(page, "label-distribution")
    agreement = [r["agreement"] for r in rows("labeled-studies", "consensus")]
    assert marks(page, "agreement") == non_empty_bins(agreement)
    assert page.locator("#view-label-distribution svg[role=img]").count() == 1
    page.click("summary:has-text('Column statistics') >> nth=0")
    assert page.locator("svg.spark").count() > 0
    page.screenshot(path=f"{SHOTS}/product-1280.png", full_page=True)
    ok("labeled-studies draws a bar per label and a bin per non-empty agreement bin")

    # The view as a file and as Vega-Lite, valid for Altair.
    spec = api("/v1/products/labeled-studies/views/label-distribution?format=vega-lite")
    altair.Chart.from_dict(spec)
    assert len(spec["data"]["values"]) == len(counts)
    ok("the Vega-Lite specification validates with Altair")

    # Anonymous: annotator-quality's annotators port is for its domain only.
    page.goto(BASE + "/products/annotator-quality")
    assert marks(page, "kappa-ranking") == 0
    assert "you may not read it" in page.locator("#view-kappa-ranking").inner_text()
    ok("an anonymous visitor sees no data of a domain port")

    # Sign in with the form, then the same page draws the ranking.
    page.goto(BASE + "/sign-in")
    page.fill("#token", ADMIN)
    page.click("main form button")
    page.wait_for_url(BASE + "/")
    assert page.locator("header.site >> text=Sign out").count() == 1
    page.goto(BASE + "/products/annotator-quality")
    annotators = rows("annotator-quality", "annotators")
    assert marks(page, "kappa-ranking") == sum(1 for r in annotators if r["kappa"] is not None)
    ok("signed in, the kappa ranking draws a bar per annotator with a kappa")

    # From a product to one of its runs (shown to those who may read every port).
    page.goto(BASE + "/products/labeled-studies")
    page.locator("#runs + div a").first.click()
    page.wait_for_url("**/runs/*")
    assert page.locator("h1").inner_text().startswith("Run")
    assert page.locator("text=Peak memory").count() == 1
    page.screenshot(path=f"{SHOTS}/run-1280.png", full_page=True)
    ok("a run page shows its timings")

    # The other demo dashboards.
    page.goto(BASE + "/products/shadow-models")
    pairs = {(r["model_a"], r["model_b"]) for r in rows("shadow-models", "agreement")}
    assert marks(page, "agreement-matrix") == len(pairs)
    evaluation = rows("shadow-models", "evaluation")
    assert marks(page, "auc") == sum(1 for r in evaluation if r["auc"] is not None)
    page.goto(BASE + "/products/active-learning")
    queue = rows("active-learning", "queue")
    assert marks(page, "queue-uncertainty") == len(queue)
    page.goto(BASE + "/products/image-quality")
    flags = rows("image-quality", "flag_counts")
    assert marks(page, "flags") == len(flags)
    ok("heatmap, bars and line match their data")

    # The mesh: a graph whose products link to their pages.
    page.goto(BASE + "/mesh")
    graph = page.locator("figure.mesh svg")
    assert graph.count() == 1
    assert graph.locator("a").count() == 5
    page.screenshot(path=f"{SHOTS}/mesh-1280.png", full_page=True)
    graph.locator('a[href="/products/shadow-models"] rect').click()
    page.wait_for_url("**/products/shadow-models")
    ok("the mesh links each product to its page")

    # A phone-sized screen: nothing wider than the screen.
    narrow = browser.new_context(viewport={"width": 390, "height": 844})
    phone = narrow.new_page()
    watch(phone)
    for name, path in [("catalog", "/"), ("product", "/products/labeled-studies"), ("mesh", "/mesh")]:
        phone.goto(BASE + path)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide"
        phone.screenshot(path=f"{SHOTS}/{name}-390.png", full_page=True)
    ok("pages fit 390 px")

    browser.close()

assert not problems, "\n".join(problems)
ok("no console error, failed request or error response")
