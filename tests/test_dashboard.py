"""The dashboard served by `pgscore serve`, driven in a real headless Chromium (Selenium,
Debian's chromium and chromium-driver) and over plain HTTP.

The daemon connects as a role given only ml.grant_gateway, as in production. The
database has three versions of "heart" (different l2), logged predictions with feedback,
a monitor that ran four checks (evaluations, drift), a schedule, and a deployment whose
reason holds markup. Screenshots of each page go to out/ (git-ignored).
"""
import json
import os
import re
from pathlib import Path

import psycopg
import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.support.ui import WebDriverWait

from sklearn.metrics import auc as sklearn_auc

from conftest import drop_database
from daemon_helpers import ROOT, Daemon, make_database, run_cli

DB = "pgscore_dashboard"
ROLE = "dashboard_daemon"
OUT = ROOT / "out"
SCRIPT = "<script>alert('pwned')</script>"


def key(scope, *projects):
    args = ["keys", "create", "--scope", scope, "--name", f"dash-{scope}"]
    for p in projects:
        args += ["--project", p]
    out = run_cli(*args, dbname=DB)
    assert out.returncode == 0, out.stderr
    return next(l.split(":", 1)[1].strip() for l in out.stdout.splitlines() if l.startswith("key:"))


@pytest.fixture(scope="module")
def db():
    dsn = make_database(DB)
    with psycopg.connect(dsn, autocommit=True) as c:
        for l2 in (0.1, 10):
            c.execute("SELECT ml.train('heart', 'heart_labelled', 'sick', exclude => ARRAY['num'], hyperparams => %s)",
                      (json.dumps({"l2": l2}),))
        deployed = c.execute("SELECT ml.deployed_version('heart')").fetchone()[0]
        # the history is a day old: the monitor's windows below start after the deployment
        c.execute("ALTER TABLE ml.deployments DISABLE TRIGGER append_only")
        c.execute("UPDATE ml.deployments SET deployed_at = deployed_at - interval '1 day'")
        c.execute("ALTER TABLE ml.deployments ENABLE TRIGGER append_only")
        # logged predictions over the last 3 hours with their true labels
        c.execute("""INSERT INTO ml.predictions (project, version, features, prediction, created_at)
                     SELECT 'heart', %s, to_jsonb(h) - 'num' - 'sick', ml.predict('heart', h),
                            now() - (row_number() OVER () * interval '35 seconds')
                       FROM heart_labelled h""", (deployed,))
        c.execute("""INSERT INTO ml.feedback (prediction_id, prediction_created_at, label)
                     SELECT p.id, p.created_at, CASE WHEN p.id % 5 = 0 THEN 'false' ELSE p.prediction END
                       FROM ml.predictions p""")
        c.execute("SELECT ml.monitor('heart', window_size => '1 hour', min_labels => 5, drift_threshold => 0.2, "
                  "drift_rows => 5, action => 'alert', every => '1 second')")
        for hours in (3, 2, 1, 0):
            c.execute("UPDATE ml.monitors SET next_check_at = now() - interval '1 day'")
            c.execute("SELECT count(*) FROM ml.run_monitors('test', now() - %s * interval '1 hour')", (hours,))
        c.execute("SELECT ml.schedule('heart', '1 day', %s)",
                  (json.dumps({"source": "heart_labelled", "label": "sick", "exclude": ["num"]}),))
        # user text with markup in the audit trail (the table only refuses updates and deletes)
        c.execute("""INSERT INTO ml.deployments (project_id, model_id, version, strategy, replaced_version, reason)
                     SELECT p.id, m.id, m.version, 'version', m.version, %s
                       FROM ml.models m JOIN ml.projects p ON p.id = m.project_id
                      WHERE p.name = 'heart' AND m.version = %s""", (SCRIPT, deployed))
        c.execute("SELECT ml.train('other', 'heart_labelled', 'sick', 'decision_tree', exclude => ARRAY['num'], "
                  "hyperparams => '{\"max_depth\": 3}')")
        # version 1 as a version trained before ROC curves were stored
        c.execute("ALTER TABLE ml.models DISABLE TRIGGER append_only")
        c.execute("UPDATE ml.models SET metrics = metrics - 'roc' WHERE version = 1 AND project_id = "
                  "(SELECT id FROM ml.projects WHERE name = 'heart')")
        c.execute("ALTER TABLE ml.models ENABLE TRIGGER append_only")
        c.execute(f"DROP ROLE IF EXISTS {ROLE}")
        c.execute(f"CREATE ROLE {ROLE} LOGIN")
        c.execute(f"SELECT ml.grant_gateway('{ROLE}')")
    yield dsn
    drop_database(DB)
    with psycopg.connect(dsn.replace(DB, "postgres"), autocommit=True) as c:
        c.execute(f"DROP ROLE IF EXISTS {ROLE}")


@pytest.fixture(scope="module")
def daemon(db, tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("dashboard"), "--no-jobs", dbname=DB, user=ROLE)
    yield d
    d.stop()


@pytest.fixture(scope="module")
def keys(db):
    return {"admin": key("admin"), "predict": key("predict"), "heart_only": key("predict", "heart")}


@pytest.fixture(scope="module")
def browser():
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def query(db, sql, *args):
    with psycopg.connect(db, autocommit=True) as c:
        return c.execute(sql, args).fetchall()


def shown(value):
    """A number as the dashboard writes it."""
    if value is None:
        return "—"
    if float(value) == round(float(value)):
        return str(int(value))
    if abs(float(value)) < 0.001:
        return f"{float(value):.3g}"
    return f"{float(value):.4f}"


def who(deployed_by, requested_by):
    """The timeline's "Who": the role, or the API key that asked the daemon's role."""
    return deployed_by if requested_by in (None, deployed_by) else f"key {requested_by} via {deployed_by}"


def follow(browser, element):
    """Clicks a link or a submit button and waits for the next page (a click does not)."""
    browser.execute_script("window.pgscoreOldPage = true")
    element.click()
    # a new page has a new window object, without the mark
    WebDriverWait(browser, 30, ignored_exceptions=(WebDriverException,)).until(
        lambda b: b.execute_script("return window.pgscoreOldPage === undefined && document.readyState === 'complete'"))


def login(browser, daemon, key):
    browser.delete_all_cookies()
    browser.get(daemon.url + "/login")
    label = browser.find_element(By.CSS_SELECTOR, "label[for=key]")
    assert label.text == "API key"
    browser.find_element(By.ID, "key").send_keys(key)
    follow(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button"))
    assert browser.current_url == daemon.url + "/"


def table(browser, selector):
    """The rows of a table as {header: cell text}."""
    element = browser.find_element(By.CSS_SELECTOR, selector)
    headers = [th.text for th in element.find_elements(By.CSS_SELECTOR, "thead th")]
    return [dict(zip(headers, [td.text for td in tr.find_elements(By.TAG_NAME, "td")]))
            for tr in element.find_elements(By.CSS_SELECTOR, "tbody tr")]


def screenshot(browser, name, readme_height=None):
    """The whole page to out/; with `readme_height` and DASHBOARD_SCREENSHOTS set (make
    screenshots) also its top to that folder, for the README."""
    OUT.mkdir(exist_ok=True)
    browser.set_window_size(1400, max(1000, min(browser.execute_script("return document.body.scrollHeight"), 8000)))
    browser.save_screenshot(str(OUT / name))
    folder = os.environ.get("DASHBOARD_SCREENSHOTS")
    if folder and readme_height:
        browser.set_window_size(1280, readme_height)
        browser.execute_script("window.scrollTo(0, 0)")
        target = ROOT / folder
        target.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(target / name))


def test_without_a_key_or_session_no_page_shows_project_data(daemon):
    for path in ("/", "/projects/heart", "/projects/heart/versions/1", "/projects/heart/versions/1/download?format=json"):
        r = requests.get(daemon.url + path, allow_redirects=False, timeout=10)
        assert r.status_code == 303 and r.headers["Location"] == "/login", path
        assert "heart" not in r.text
    r = requests.get(daemon.url + "/", cookies={"pgscore_session": "made-up"}, allow_redirects=False, timeout=10)
    assert r.status_code == 303
    r = requests.get(daemon.url + "/", headers={"Authorization": "Bearer pgs_" + "x" * 43}, timeout=10)
    assert r.status_code == 401 and "heart" not in r.text


def test_login_sets_a_strict_http_only_cookie_without_the_key(daemon, keys):
    r = requests.post(daemon.url + "/login", data={"key": keys["predict"]}, allow_redirects=False, timeout=10)
    assert r.status_code == 303 and r.headers["Location"] == "/"
    cookie = r.headers["Set-Cookie"]
    assert re.match(r"pgscore_session=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Strict; Max-Age=\d+$", cookie), cookie
    assert keys["predict"] not in cookie
    bad = requests.post(daemon.url + "/login", data={"key": "pgs_" + "y" * 43}, allow_redirects=False, timeout=10)
    assert bad.status_code == 401 and "unknown or revoked" in bad.text and "Set-Cookie" not in bad.headers


def test_projects_page_shows_the_registry_numbers(browser, daemon, keys, db):
    login(browser, daemon, keys["admin"])
    rows = {r["Project"]: r for r in table(browser, "#projects")}
    overview = query(db, "SELECT project, deployed_version, deployed_algorithm, key_metric, deployed_score, versions "
                         "FROM ml.project_overview")
    assert set(rows) == {o[0] for o in overview}
    for project, version, algorithm, metric, score, versions in overview:
        row = rows[project]
        assert row["Deployed version"] == shown(version)
        assert row["Algorithm"] == (algorithm or "—")
        assert row["Key metric"] == (metric or "—")
        assert row["Test score"] == shown(score)
        assert row["Versions"] == shown(versions)
    value, n = query(db, "SELECT value, n FROM ml.evaluations WHERE project = 'heart' ORDER BY window_end DESC LIMIT 1")[0]
    assert rows["heart"]["Live (last window)"].startswith(shown(value)) and f"n={n}" in rows["heart"]["Live (last window)"]
    hour = query(db, "SELECT count(*) FROM ml.predictions WHERE project = 'heart' AND created_at > now() - interval '1 hour'")[0][0]
    assert rows["heart"]["Predictions (last hour)"] == str(hour) and hour > 0
    spark = browser.find_element(By.CSS_SELECTOR, "tr[data-project=heart] svg.spark title").get_attribute("textContent")
    assert shown(value) in spark
    screenshot(browser, "dashboard-projects.png", readme_height=580)


def test_project_page_versions_charts_and_timeline_equal_the_views(browser, daemon, keys, db):
    login(browser, daemon, keys["admin"])
    follow(browser, browser.find_element(By.LINK_TEXT, "heart"))
    assert browser.current_url == daemon.url + "/projects/heart"
    versions = query(db, "SELECT version, deployed, accuracy, f1, roc_auc, train_rows, hyperparams->>'l2' "
                         "FROM ml.versions WHERE project = 'heart' ORDER BY version")
    rows = table(browser, "#versions-table")
    assert [r["Version"] for r in rows] == [str(v[0]) for v in versions]
    for row, (version, deployed, accuracy, f1, auc, train_rows, l2) in zip(rows, versions):
        assert row["accuracy"] == shown(accuracy) and row["f1"] == shown(f1) and row["roc_auc"] == shown(auc)
        assert row["Train rows"] == str(train_rows) and f"l2={shown(float(l2))}" in row["Hyperparameters"]
        assert ("deployed" in row["Deployed"]) == deployed
    deployed = [v[0] for v in versions if v[1]]
    assert browser.find_element(By.CSS_SELECTOR, "tr.deployed").get_attribute("data-version") == str(deployed[0])
    # sorting by a metric column (dashboard.js)
    header = browser.find_element(By.XPATH, "//table[@id='versions-table']//th[text()='accuracy']")
    header.click()
    column = [r["accuracy"] for r in table(browser, "#versions-table")]
    assert column == sorted(column, key=float)
    # the audit trail, with the markup shown as text
    trail = table(browser, "#deployments-table")
    history = query(db, "SELECT version, strategy, deployed_by, requested_by, reason FROM ml.deployment_history "
                        "WHERE project = 'heart' ORDER BY deployed_at DESC")
    assert [(r["Version"], r["Strategy"], r["Who"], r["Reason"]) for r in trail] == \
        [(str(v), s, who(w, k), r or "—") for v, s, w, k, r in history]
    assert SCRIPT in [r["Reason"] for r in trail]
    # every chart has a text alternative: a title, and its numbers in a table
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert {c.get_attribute("id") for c in charts} >= {"compare-chart", "live-chart", "drift-chart", "volume-chart"}
    for chart in charts:
        assert chart.find_element(By.TAG_NAME, "title").get_attribute("textContent")
    live = query(db, "SELECT value FROM ml.evaluations WHERE project = 'heart' ORDER BY window_end")
    live_numbers = browser.find_element(By.CSS_SELECTOR, "#live-chart ~ details table")
    cells = [td.get_attribute("textContent") for td in live_numbers.find_elements(By.CSS_SELECTOR, "tbody td:nth-child(3)")]
    assert [shown(v[0]) for v in live] == cells[:len(live)]
    drift = {r["Feature"]: r["PSI"] for r in table(browser, "#drift-table")}
    assert drift == {f: shown(p) for f, p in query(db, "SELECT feature, psi FROM ml.drift_report WHERE project = 'heart'")}
    assert len(drift) > 0
    volume = query(db, "SELECT count(*) FROM ml.predictions WHERE project = 'heart' "
                       "AND created_at >= date_trunc('hour', now()) - interval '23 hours' "
                       "GROUP BY date_trunc('hour', created_at) ORDER BY date_trunc('hour', created_at)")
    bars = browser.find_element(By.CSS_SELECTOR, "#volume-chart ~ details table")
    counts = [td.get_attribute("textContent") for td in bars.find_elements(By.CSS_SELECTOR, "tbody td:nth-child(2)")]
    assert len(counts) == 24 and [c for c in counts if c != "0"] == [str(n) for (n,) in volume]
    schedules = table(browser, "#schedules-table")
    assert len(schedules) == 1 and schedules[0]["Paused"] == "no"
    screenshot(browser, "dashboard-project.png", readme_height=1500)
    # the version page, by its link
    follow(browser, browser.find_element(By.CSS_SELECTOR, f"tr[data-version='{deployed[0]}'] a"))
    assert browser.current_url == f"{daemon.url}/projects/heart/versions/{deployed[0]}"


def test_version_page_shows_what_the_registry_recorded(browser, daemon, keys, db):
    login(browser, daemon, keys["admin"])
    browser.get(daemon.url + "/projects/heart/versions/2")
    metrics, stats, fingerprint, source = query(
        db, "SELECT m.metrics, m.feature_stats, m.fingerprint, m.source FROM ml.models m JOIN ml.projects p "
            "ON p.id = m.project_id WHERE p.name = 'heart' AND m.version = 2")[0]
    shown_metrics = {r["Metric"]: r["Value"] for r in table(browser, "#metrics-table")}
    for name in ("accuracy", "f1", "roc_auc", "log_loss", "precision", "recall"):
        assert shown_metrics[name] == shown(metrics[name])
    confusion = table(browser, "#confusion-table")
    assert [[int(v) for k, v in r.items() if k != "true \\ predicted"] for r in confusion] == metrics["confusion_matrix"]
    lineage = [tr.find_elements(By.TAG_NAME, "td") for tr in browser.find_elements(By.CSS_SELECTOR, "#lineage-table tbody tr")]
    lineage = {cells[0].text: cells[1].text for cells in lineage}
    assert lineage["Data fingerprint"] == fingerprint and lineage["Source"] == source
    assert {r["Feature"]: r["Mean"] for r in table(browser, "#stats-table")} == \
        {f: shown(s["mean"]) for f, s in stats.items() if f != "_dropped"}
    assert browser.find_element(By.ID, "coefficients-chart-0").find_element(By.TAG_NAME, "title")
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg[id^=histogram-]")) == len(stats) - 1
    # the ROC curve ml.metrics stored: drawn, titled, and its points in a table, all digits
    chart = browser.find_element(By.ID, "roc-chart")
    assert "ROC curve" in chart.find_element(By.TAG_NAME, "title").get_attribute("textContent")
    curve, = metrics["roc"]
    points = browser.find_element(By.ID, "roc-points-0")
    cells = [[td.get_attribute("textContent") for td in tr.find_elements(By.TAG_NAME, "td")]
             for tr in points.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert [float(f) for _, f, _ in cells] == curve["fpr"] and [float(t) for _, _, t in cells] == curve["tpr"]
    assert cells[0][0] == "+∞" and [float(t) for t, _, _ in cells[1:]] == curve["thresholds"][1:]
    assert not curve["thinned"] and sklearn_auc(curve["fpr"], curve["tpr"]) == pytest.approx(metrics["roc_auc"], abs=1e-9)
    screenshot(browser, "dashboard-version.png")
    # the download: the export route's file, through the session
    href = browser.find_element(By.ID, "download-json").get_attribute("href")
    session = {"pgscore_session": browser.get_cookie("pgscore_session")["value"]}
    r = requests.get(href, cookies=session, timeout=10)
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    exported = query(db, "SELECT convert_from(ml.export('heart', 2, 'json'), 'UTF8')")[0][0]
    assert r.content.decode() == exported
    onnx = requests.get(href.replace("format=json", "format=onnx"), cookies=session, timeout=10)
    assert onnx.status_code == 200 and onnx.content[:2] == bytes(query(db, "SELECT ml.export('heart', 2, 'onnx')")[0][0][:2])


def test_a_version_without_a_stored_curve_says_so_and_trees_show_their_importance(browser, daemon, keys, db):
    login(browser, daemon, keys["admin"])
    browser.get(daemon.url + "/projects/heart/versions/1")
    assert "before pgscore stored ROC curves" in browser.find_element(By.ID, "roc-missing").text
    assert browser.find_elements(By.ID, "roc-chart") == []
    assert browser.find_element(By.ID, "roc-auc").text == shown(query(db, "SELECT roc_auc FROM ml.versions "
                                                                          "WHERE project = 'heart' AND version = 1")[0][0])
    # a tree's split-gain importances (ml.describe), as bars with their numbers
    browser.get(daemon.url + "/projects/other/versions/1")
    described = query(db, "SELECT ml.describe(m.model) FROM ml.models m JOIN ml.projects p ON p.id = m.project_id "
                          "WHERE p.name = 'other' AND m.version = 1")[0][0]
    importance = described["feature_importance"]
    assert sum(importance) == pytest.approx(1, abs=1e-12) and 0 in importance and max(importance) > 0
    chart = browser.find_element(By.ID, "importance-chart")
    assert chart.find_element(By.TAG_NAME, "title").get_attribute("textContent")
    numbers = chart.find_element(By.XPATH, "ancestor::figure//details//table")
    shown_bars = [[td.get_attribute("textContent") for td in tr.find_elements(By.TAG_NAME, "td")]
                  for tr in numbers.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert shown_bars == [[n, shown(v)] for n, v in zip(described["info"]["feature_names"], importance)]
    assert browser.find_elements(By.CSS_SELECTOR, "[id^=coefficients-chart]") == []
    screenshot(browser, "dashboard-tree-version.png")


def test_deploy_and_roll_back_through_the_page(browser, daemon, keys, db):
    login(browser, daemon, keys["admin"])
    before = query(db, "SELECT ml.deployed_version('heart')")[0][0]
    target = next(v for (v,) in query(db, "SELECT version FROM ml.versions WHERE project = 'heart' ORDER BY version") if v != before)
    browser.get(daemon.url + "/projects/heart")
    follow(browser, browser.find_element(By.CSS_SELECTOR, f"tr[data-version='{target}'] a.action"))
    assert "/confirm" in browser.current_url
    # without the explicit confirmation the browser does not even submit (required), and the server refuses
    assert browser.find_element(By.ID, "confirm").get_attribute("required") is not None
    assert browser.find_element(By.CSS_SELECTOR, "label[for=confirm]")
    browser.find_element(By.ID, "confirm").click()
    follow(browser, browser.find_element(By.ID, "do-action"))
    assert browser.current_url.startswith(daemon.url + "/projects/heart")
    assert browser.find_element(By.ID, "deployed-version").text == str(target)
    last = query(db, "SELECT version, strategy, replaced_version, deployed_by, requested_by, reason FROM ml.deployment_history "
                     "WHERE project = 'heart' ORDER BY deployed_at DESC LIMIT 1")[0]
    assert last == (target, "version", before, ROLE, "dash-admin", "pinned version")
    newest = table(browser, "#deployments-table")[0]
    assert newest["Version"] == str(target) and newest["Who"] == f"key dash-admin via {ROLE}"
    # roll back
    follow(browser, browser.find_element(By.LINK_TEXT, "Roll back…"))
    browser.find_element(By.ID, "confirm").click()
    follow(browser, browser.find_element(By.ID, "do-action"))
    assert query(db, "SELECT ml.deployed_version('heart')")[0][0] == before
    last = query(db, "SELECT version, strategy, deployed_by, requested_by FROM ml.deployment_history "
                     "WHERE project = 'heart' ORDER BY deployed_at DESC LIMIT 1")[0]
    assert last == (before, "rollback", ROLE, "dash-admin")
    assert browser.find_element(By.ID, "deployed-version").text == str(before)


def test_pause_and_resume_a_schedule_through_the_page(browser, daemon, keys, db):
    login(browser, daemon, keys["admin"])
    browser.get(daemon.url + "/projects/heart")
    follow(browser, browser.find_element(By.LINK_TEXT, "Pause…"))
    browser.find_element(By.ID, "confirm").click()
    follow(browser, browser.find_element(By.ID, "do-action"))
    assert query(db, "SELECT paused FROM ml.schedules WHERE project = 'heart'")[0][0] is True
    assert table(browser, "#schedules-table")[0]["Paused"] == "yes"
    follow(browser, browser.find_element(By.LINK_TEXT, "Resume…"))
    browser.find_element(By.ID, "confirm").click()
    follow(browser, browser.find_element(By.ID, "do-action"))
    assert query(db, "SELECT paused FROM ml.schedules WHERE project = 'heart'")[0][0] is False


def test_a_predict_key_sees_no_actions_and_cannot_post_them(browser, daemon, keys, db):
    login(browser, daemon, keys["predict"])
    for path in ("/", "/projects/heart", "/projects/heart/versions/1"):
        browser.get(daemon.url + path)
        assert browser.find_elements(By.CSS_SELECTOR, "a.action, #do-action") == [], path
        assert browser.find_elements(By.ID, "download-onnx") == []
    session = {"pgscore_session": browser.get_cookie("pgscore_session")["value"]}
    before = query(db, "SELECT count(*) FROM ml.deployments")[0][0]
    r = requests.post(daemon.url + "/projects/heart/actions", cookies=session, allow_redirects=False, timeout=10,
                      data={"action": "rollback", "confirm": "yes", "csrf": "anything"})
    assert r.status_code == 403
    assert requests.get(daemon.url + "/projects/heart/confirm?action=rollback", cookies=session, timeout=10).status_code == 403
    assert requests.get(daemon.url + "/projects/heart/versions/1/download?format=json", cookies=session, timeout=10).status_code == 403
    assert query(db, "SELECT count(*) FROM ml.deployments")[0][0] == before


def test_admin_posts_need_the_csrf_token_and_the_confirmation(daemon, keys, db):
    s = requests.Session()
    assert s.post(daemon.url + "/login", data={"key": keys["admin"]}, timeout=10).status_code == 200
    page = s.get(daemon.url + "/projects/heart/confirm?action=rollback", timeout=10).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    before = query(db, "SELECT count(*) FROM ml.deployments")[0][0]
    url = daemon.url + "/projects/heart/actions"
    assert s.post(url, data={"action": "rollback", "confirm": "yes"}, allow_redirects=False, timeout=10).status_code == 403
    assert s.post(url, data={"action": "rollback", "confirm": "yes", "csrf": csrf[:-1] + "x"},
                  allow_redirects=False, timeout=10).status_code == 403
    assert s.post(url, data={"action": "rollback", "csrf": csrf}, allow_redirects=False, timeout=10).status_code == 422
    assert s.post(url, data={"action": "launch", "confirm": "yes", "csrf": csrf}, allow_redirects=False, timeout=10).status_code == 422
    assert query(db, "SELECT count(*) FROM ml.deployments")[0][0] == before
    # a project-bound key: another project's page and actions are refused
    bound = requests.Session()
    bound.post(daemon.url + "/login", data={"key": keys["heart_only"]}, timeout=10)
    projects = bound.get(daemon.url + "/", timeout=10).text
    assert "/projects/heart\"" in projects and "/projects/other\"" not in projects
    assert bound.get(daemon.url + "/projects/other", timeout=10).status_code == 403
    # logout ends the session on the server, not only in the browser
    cookie = s.cookies.get("pgscore_session")
    assert s.post(daemon.url + "/logout", data={"csrf": csrf}, allow_redirects=False, timeout=10).status_code == 303
    r = requests.get(daemon.url + "/", cookies={"pgscore_session": cookie}, allow_redirects=False, timeout=10)
    assert r.status_code == 303 and r.headers["Location"] == "/login"


def test_user_text_is_escaped_and_pages_allow_no_inline_script(daemon, keys):
    headers = {"Authorization": "Bearer " + keys["admin"]}
    r = requests.get(daemon.url + "/projects/heart", headers=headers, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert SCRIPT not in r.text
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in r.text
    assert "script-src 'self'" in r.headers["Content-Security-Policy"] and r.headers["Cache-Control"] == "no-store"
    assert re.findall(r"<script[^>]*>", r.text) == ['<script src="/dashboard/dashboard.js">']
    # a bad path gives an HTML error page, with the escaped name
    r = requests.get(daemon.url + "/projects/heart/versions/99", headers=headers, timeout=10)
    assert r.status_code == 404 and "has no version 99" in r.text


def test_a_revoked_key_ends_its_sessions(daemon, db):
    k = key("predict")
    s = requests.Session()
    s.post(daemon.url + "/login", data={"key": k}, timeout=10)
    assert s.get(daemon.url + "/", allow_redirects=False, timeout=10).status_code == 200
    key_id = query(db, "SELECT max(id) FROM ml.api_keys")[0][0]
    assert run_cli("keys", "revoke", str(key_id), dbname=DB).returncode == 0
    r = s.get(daemon.url + "/", allow_redirects=False, timeout=10)
    assert r.status_code == 303 and r.headers["Location"] == "/login"
