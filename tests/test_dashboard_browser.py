"""The dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright with
`executable_path`; no browser download): log in, the overview, a skill page with its
versions and a diff, a roll-back click that moves the alias, a read token that sees no
buttons, a run page with its figures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the dashboard needs the `web` extra (fastapi)")
pytest.importorskip("jinja2", reason="the dashboard needs the `web` extra (jinja2)")
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (a dev dependency)")

from http_server import serve_in_thread  # noqa: E402

from skillbank.serve.app import create_app  # noqa: E402
from skillbank.serve.tokens import TokenRegistry  # noqa: E402
from skillbank.store import VersionStatus, open_store  # noqa: E402

V1 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(xs)\n"
V2 = "def total(xs: list[int]) -> int:\n    '''Sum of xs, ignoring None.'''\n    return sum(x for x in xs if x is not None)\n"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    reason = "no system Chromium (Debian package `chromium`; .ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser test: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dash")
    store = open_store(tmp / "lib.db")
    v1, _ = store.put_version(V1, actor="alice")
    v2, _ = store.put_version(V2, actor="agent")
    store.set_alias("total", "promoted", 2, expected_generation=None, actor="alice")
    store.set_status(v2.id, VersionStatus.PROMOTED, actor="alice")
    from skillbank.governance import Governance

    Governance(store).redteam("total", 2, run=False)  # the static scan: a report on the skill page
    store.record_call(v2.id, ok=True, latency_s=0.02)
    store.record_call(v2.id, ok=False, latency_s=0.03)
    runs_dir = tmp / "runs"
    proc = subprocess.run(
        [sys.executable, "-m", "skillbank.cli", "run", "--policy", "expert", "--split", "dev", "--limit", "3",
         "--library", str(tmp / "run-lib.db"), "--runs-dir", str(runs_dir), "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    reg = TokenRegistry(store)
    tokens = {role: reg.create("default", role)[0] for role in ("read", "admin")}
    with serve_in_thread(create_app(store, runs_dir=runs_dir)) as url:
        yield url, store, tokens
    store.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _login(browser, url: str, token: str):
    page = browser.new_page()
    page.goto(url + "/")
    assert page.url.endswith("/login")
    page.fill("input[name=token]", token)
    page.click("#login")
    page.wait_for_url(url + "/")
    return page


def test_wrong_token_is_refused(site, browser) -> None:
    url, _, _ = site
    page = browser.new_page()
    page.goto(url + "/login")
    page.fill("input[name=token]", "sbk_not-a-token")
    page.click("#login")
    assert "unknown or revoked token" in page.inner_text("#error")
    page.close()


def test_overview_loads(site, browser) -> None:
    url, _, tokens = site
    page = _login(browser, url, tokens["admin"])
    assert "namespace default" in page.inner_text("#who")
    skills = page.inner_text("#skills")
    assert "total" in skills and "promoted" in skills
    assert "promoted" in page.inner_text("#by-status") and "candidate" in page.inner_text("#by-status")
    assert "total@2" in page.inner_text("#most-used")
    page.close()


def test_skill_page_shows_versions_and_a_diff(site, browser) -> None:
    url, _, tokens = site
    page = _login(browser, url, tokens["admin"])
    page.click("#skills a:text('total')")
    page.wait_for_selector("#versions")
    assert page.inner_text("#skill-name") == "total"
    rows = page.inner_text("#versions")
    assert "v1" in rows and "v2" in rows
    diff = page.inner_text("#diff")
    assert "-    return sum(xs)" in diff and "+    return sum(x for x in xs if x is not None)" in diff
    assert "ignoring None" in page.inner_text("#source")
    assert "Red-team" in page.inner_text("#governance-v2") and "0 finding(s)" in page.content()
    page.close()


def test_rollback_click_moves_the_alias(site, browser) -> None:
    url, store, tokens = site
    page = _login(browser, url, tokens["admin"])
    page.goto(url + "/skills/total")
    assert page.inner_text("#promoted-version") == "2"
    page.click("#rollback-1")
    page.wait_for_selector("#message")
    assert "rolled back" in page.inner_text("#message")
    assert page.inner_text("#promoted-version") == "1"
    assert store.get_alias("total", "promoted").version == 1
    rolled = store.events(type="rolled_back")[-1]
    assert (rolled.payload["version"], rolled.payload["to_version"]) == (2, 1)
    assert store.get_version("total", 2).status is VersionStatus.RETIRED
    page.close()


def test_read_token_sees_no_buttons(site, browser) -> None:
    url, _, tokens = site
    page = _login(browser, url, tokens["read"])
    page.goto(url + "/skills/total")
    assert page.locator("#versions").is_visible()
    assert page.locator("button.promote, button.rollback").count() == 0
    page.close()


def test_run_page_shows_figures(site, browser) -> None:
    url, _, tokens = site
    page = _login(browser, url, tokens["read"])
    page.click("header a:text('runs')")
    page.wait_for_selector("#runs")
    assert "100.0%" in page.inner_text("#runs")
    page.click("#runs a")
    page.wait_for_selector("#scenarios")
    imgs = page.locator("figure img")
    assert imgs.count() >= 3
    page.wait_for_load_state("networkidle")
    widths = page.eval_on_selector_all("figure img", "els => els.map(e => e.naturalWidth)")
    assert all(w > 100 for w in widths), widths
    # Issue 28, item 11: what governance did beside the run, and which tasks failed.
    gov = page.inner_text("#governance")
    assert "evaluated" in gov and "promoted" in gov and "gate" in gov
    assert page.locator("#governance table.gov-versions tr").count() >= 2  # a header and a version
    assert page.locator("#governance table.gov-moves").count() == 1  # the promotion, with its reason
    assert "gate passed" in page.inner_text("#governance table.gov-moves")
    assert "task(s) passed" in page.inner_text("#failed")  # the expert passes all 3
    page.close()


def test_no_page_overflows_an_800_px_window(site, browser) -> None:
    """Issue 28, item 21: at 800 px nothing is wider than the window (long signatures,
    sources, reasons and run ids wrap or scroll inside their own box)."""
    url, store, tokens = site
    long_name = "reconcile_the_quarterly_subscription_invoices_against_the_payment_ledger"
    src = (f"def {long_name}(invoice_identifiers_to_reconcile: list[str], ledger_account_identifier: str, "
           "include_refunded_and_partially_refunded_invoices: bool = False) -> dict[str, float]:\n"
           "    '''Reconcile.'''\n    return {i: 0.0 for i in invoice_identifiers_to_reconcile}  "
           + "# " + "x" * 300 + "\n")
    store.put_version(src, actor="agent")
    page = _login(browser, url, tokens["admin"])
    page.set_viewport_size({"width": 800, "height": 900})
    run_link = None
    for path in ("/", f"/skills/{long_name}", "/skills/total", "/skills/total?events=all", "/runs", "/canaries"):
        page.goto(url + path)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 800, (path, width)
        if path == "/runs":
            run_link = page.get_attribute("#runs a", "href")
    page.goto(url + run_link)
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
    page.close()


def test_a_folded_reason_opens_in_the_browser(site, browser) -> None:
    url, store, tokens = site
    reason = "the gate was blocked because " + " ".join(f"reason{n}" for n in range(60)) + " END"
    v = store.get_version("total", 1)
    store.record_event("gate_checked", name="total", version_id=v.id, actor="governance", reason=reason[:500],
                       payload={"passed": False, "target": None, "reasons": [reason]})
    page = _login(browser, url, tokens["read"])
    page.goto(url + "/skills/total")
    summary = page.locator("#governance-v1 .gate + ul details summary").first
    assert "END" not in summary.inner_text() and summary.inner_text().endswith("…")
    summary.click()
    assert "END" in page.locator("#governance-v1 .gate + ul details").first.inner_text()
    page.close()
