"""The reviewer page (/review) in a real browser: Debian's Chromium driven by Playwright, against the
real service (uvicorn on a loopback port, SQLite, the shipped model). Like PostgreSQL for the store
tests, Chromium is a service the suite needs: without it these tests fail, they never skip."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from playwright import sync_api
from playwright.sync_api import expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = [REPO / "var" / "screenshots" / "review.png", Path("/tmp/review.png")]

XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script> Помогите разобраться, пожалуйста'
MESSAGES = [
    ("telegram", "На проспекте Кабанбай батыра огромная яма, машины объезжают по встречке"),
    ("instagram", "Бүгін үйде жылу жоқ, балалар тоңып отыр"),
    ("api", "The streetlights on Turan avenue have been off for a week, it is dangerous to walk at night"),
    ("whatsapp", "Мусор во дворе не вывозят уже неделю, контейнеры переполнены. Мой номер +7 701 234 56 78"),
    ("telegram", "Подъезде қатты газ иісі шығып тұр, тез келіңіздерші!"),
    ("eotinish", "Соседи шумят каждую ночь после 23:00, прошу принять меры"),
    ("web", XSS),
    ("telegram", "Помогите, пожалуйста"),
    ("instagram", "Аулада қаңғыбас иттер көп, балалар қорқады"),
    ("api", "Hello, who do I contact about my pension documents?"),
    # Vague on purpose: no model should be sure of these, so they are queued for review.
    ("x", "Когда это уже закончится? Третий раз пишу"),
    ("telegram", "Jagdai nashar, ne isteimiz endi"),
    ("facebook", "Is anyone even reading these messages?"),
]

# -- the service -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    import uvicorn

    from api.app import create_app
    from triage.settings import Settings
    from triage.store import Store

    tmp = tmp_path_factory.mktemp("browser")
    settings = Settings(database_url=f"sqlite:///{tmp}/triage.db", var_dir=tmp / "var", quality_sample_rate=0.0)
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # a free loopback port, held until uvicorn serves on it
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            pytest.fail("the service did not become ready")
        time.sleep(0.1)

    store = Store(settings.resolved_database_url())  # after start: the schema is migrated by then
    reviewer = store.create_key("reviewer", "browser-reviewer")
    intake = store.create_key("intake", "browser-intake")
    ids = {}
    with httpx.Client(base_url=base, headers={"X-API-Key": intake}, timeout=30) as client:
        for i, (channel, text) in enumerate(MESSAGES):
            r = client.post("/v1/classify", json={"text": text, "channel": channel, "external_id": f"b-{i}"})
            assert r.status_code == 200, r.text
            ids[text] = r.json()["message_id"]
        queued = client.get("/v1/review/queue", params={"limit": 50}, headers={"X-API-Key": reviewer}).json()
    assert len(queued["items"]) >= 6, "the test messages should mostly be uncertain, hence queued"
    assert ids[XSS] in {m["id"] for m in queued["items"]}
    yield {"base": base, "store": store, "reviewer": reviewer, "intake": intake, "ids": ids}
    server.should_exit = True
    thread.join(timeout=10)
    store.dispose()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-US", viewport={"width": 1440, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    pg.errors = []  # uncaught exceptions, console errors and CSP violations
    pg.requests = []  # every URL the page asked for: all must be the service's own
    pg.on("request", lambda req: pg.requests.append(req.url))
    pg.on("pageerror", lambda exc: pg.errors.append(f"pageerror: {exc}"))
    pg.on("console", lambda msg: msg.type == "error" and "Failed to load resource" not in msg.text
          and pg.errors.append(f"console: {msg.text}"))
    pg.add_init_script("""document.addEventListener('securitypolicyviolation',
        (e) => (window.__csp = window.__csp || []).push(e.violatedDirective + ' ' + e.blockedURI));""")
    yield pg
    context.close()


def sign_in(page, service, key=None):
    page.goto(f"{service['base']}/review")
    page.get_by_test_id("signin-key").fill(key or service["reviewer"])
    page.get_by_test_id("signin-submit").click()
    expect(page.get_by_test_id("queue-item").first).to_be_visible()
    expect(page.get_by_test_id("user-name")).to_have_text("browser-reviewer")


def item_ids(page) -> list[int]:
    return [int(x) for x in page.get_by_test_id("queue-item").evaluate_all("els => els.map(e => e.dataset.id)")]


def selected_id(page) -> int:
    return int(page.locator('[data-testid="queue-item"][aria-current="true"]').get_attribute("data-id"))


def assert_clean(page):
    """No script errors, no CSP violation, nothing fetched from anywhere but the service."""
    assert page.errors == []
    base = page.url.split("/review")[0] + "/"
    assert any(u.endswith("/static/review.js") for u in page.requests)
    assert [u for u in page.requests if not u.startswith(base)] == []
    assert page.evaluate("window.__csp || []") == []


# -- tests -----------------------------------------------------------------------------------------


def test_wrong_key_shows_an_error_and_stays_signed_out(page, service):
    page.goto(f"{service['base']}/review")
    expect(page.get_by_test_id("signin-view")).to_be_visible()
    expect(page.get_by_test_id("queue-view")).to_be_hidden()
    page.get_by_test_id("signin-submit").click()
    expect(page.get_by_test_id("signin-error")).to_have_text("Enter your API key.")

    page.get_by_test_id("signin-key").fill("trg_deadbeef_not-a-real-key")
    page.get_by_test_id("signin-key").press("Enter")
    expect(page.get_by_test_id("signin-error")).to_contain_text("not accepted")
    expect(page.get_by_test_id("signin-key")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("queue-view")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0

    page.get_by_test_id("signin-key").fill(service["intake"])  # a valid key, but not a reviewer's
    page.get_by_test_id("signin-submit").click()
    expect(page.get_by_test_id("signin-error")).to_contain_text("intake")
    expect(page.get_by_test_id("queue-view")).to_be_hidden()
    assert_clean(page)


def test_injected_html_renders_as_inert_text(page, service):
    sign_in(page, service)
    xss_id = service["ids"][XSS]
    item = page.locator(f'[data-testid="queue-item"][data-id="{xss_id}"]')
    expect(item.get_by_test_id("queue-item-text")).to_have_text(XSS)
    item.click()
    expect(page.get_by_test_id("detail-title")).to_contain_text(str(xss_id))
    expect(page.get_by_test_id("detail-text")).to_have_text(service["store"].get_message(xss_id)["text"])
    expect(page.get_by_test_id("detail-text")).to_contain_text('<script>window.__xss=1</script>')
    assert page.locator("#queue-list img, #queue-list script, #detail-body img, #detail-body script").count() == 0
    assert page.evaluate("window.__xss") is None
    assert_clean(page)


def test_language_switch_translates_interface_and_label_names(page, service):
    sign_in(page, service)
    expect(page.get_by_test_id("signout")).to_have_text("Sign out")
    expect(page.locator('[data-testid="select-topic"] option[value="roads"]')).to_have_text("Roads")

    page.get_by_test_id("lang-kk").click()
    expect(page.locator("html")).to_have_attribute("lang", "kk")
    expect(page.get_by_test_id("signout")).to_have_text("Шығу")
    expect(page.get_by_test_id("lang-kk")).to_have_attribute("aria-pressed", "true")
    expect(page.locator('[data-testid="select-topic"] option[value="roads"]')).to_have_text("Жолдар")
    expect(page.locator('[data-testid="select-urgency"] option[value="critical"]')).to_have_text("Өте шұғыл")
    expect(page.get_by_test_id("confirm")).to_contain_text("Дұрыс деп растау")
    page.screenshot(path="/tmp/review-kk.png")

    page.reload()  # the language is remembered (localStorage), the key too (sessionStorage)
    expect(page.get_by_test_id("queue-item").first).to_be_visible()
    expect(page.get_by_test_id("signout")).to_have_text("Шығу")

    page.get_by_test_id("lang-ru").click()
    expect(page.get_by_test_id("signout")).to_have_text("Выйти")
    expect(page.locator('[data-testid="select-topic"] option[value="roads"]')).to_have_text("Дороги")

    page.get_by_test_id("signout").click()
    expect(page.get_by_test_id("signin-view")).to_be_visible()
    expect(page.get_by_test_id("signin-submit")).to_have_text("Войти")
    assert page.evaluate("sessionStorage.length") == 0
    assert_clean(page)


def test_changing_the_topic_stores_a_correction_with_only_that_field(page, service):
    sign_in(page, service)
    first = page.get_by_test_id("queue-item").first
    expect(first).to_have_attribute("aria-current", "true")
    msg_id = int(first.get_attribute("data-id"))
    expect(page.get_by_test_id("detail-title")).to_contain_text(str(msg_id))
    for path in SCREENSHOTS:
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path))

    topic = page.get_by_test_id("select-topic")
    current = topic.input_value()
    new = "ecology" if current != "ecology" else "roads"
    expect(page.get_by_test_id("submit")).to_be_disabled()  # nothing changed yet
    topic.select_option(new)
    expect(page.get_by_test_id("submit")).to_be_enabled()
    expect(page.get_by_test_id("confirm")).to_be_disabled()
    page.get_by_test_id("submit").click()

    expect(page.get_by_test_id("toast").last).to_contain_text(f"#{msg_id}")
    expect(page.locator(f'[data-testid="queue-item"][data-id="{msg_id}"]')).to_have_count(0)
    expect(page.get_by_test_id("queue-item").first).to_have_attribute("aria-current", "true")
    (corr,) = service["store"].get_message(msg_id)["corrections"]
    assert corr["topic"] == new and corr["reviewer"] == "browser-reviewer"
    assert corr["authority"] is None and corr["urgency"] is None and corr["district"] is None
    assert_clean(page)


def test_keyboard_moves_the_selection_and_confirms(page, service):
    sign_in(page, service)
    ids = item_ids(page)
    assert len(ids) >= 2
    assert selected_id(page) == ids[0]
    page.keyboard.press("j")
    expect(page.locator('[data-testid="queue-item"][aria-current="true"]')).to_have_attribute("data-id", str(ids[1]))
    page.keyboard.press("k")
    expect(page.locator('[data-testid="queue-item"][aria-current="true"]')).to_have_attribute("data-id", str(ids[0]))
    page.keyboard.press("ArrowDown")
    expect(page.get_by_test_id("detail-title")).to_contain_text(str(ids[1]))

    page.keyboard.press("1")
    expect(page.get_by_test_id("select-topic")).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    expect(page.get_by_test_id("help-overlay")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("help-overlay")).to_be_hidden()

    # Typing in the comment box fires no shortcut.
    page.get_by_test_id("comment").click()
    page.keyboard.type("jkc looks right")
    expect(page.get_by_test_id("comment")).to_have_value("jkc looks right")
    assert selected_id(page) == ids[1]
    page.keyboard.press("Escape")

    labels = service["store"].get_message(ids[1])["labels"]
    page.keyboard.press("c")
    expect(page.get_by_test_id("toast").last).to_contain_text(f"#{ids[1]} confirmed")
    expect(page.locator(f'[data-testid="queue-item"][data-id="{ids[1]}"]')).to_have_count(0)
    (corr,) = service["store"].get_message(ids[1])["corrections"]
    assert corr["reviewer"] == "browser-reviewer" and corr["comment"] == "jkc looks right"
    assert {f: corr[f] for f in labels} == labels  # every current label, recorded as confirmed
    assert selected_id(page) == ids[2]

    # 3 goes to the urgency list, where the arrows change the value; Enter submits from there.
    urgency = page.get_by_test_id("select-urgency")
    before = urgency.input_value()
    page.keyboard.press("3")
    expect(urgency).to_be_focused()
    page.keyboard.press("ArrowUp" if before == "low" else "ArrowDown")
    after = urgency.input_value()
    assert after != before
    page.keyboard.press("Enter")
    expect(page.locator(f'[data-testid="queue-item"][data-id="{ids[2]}"]')).to_have_count(0)
    (corr,) = service["store"].get_message(ids[2])["corrections"]
    assert corr["urgency"] == after and corr["topic"] is None and corr["comment"] is None
    assert_clean(page)


def test_threshold_tick_shows_the_message_language_threshold(page, service):
    """The confidence bar's tick sits at the threshold the engine applied: the language's own."""
    from triage.engine import Triage

    engine = Triage.load(REPO / "models" / "default")
    assert engine.thresholds_by_language, "the shipped model has per-language thresholds"
    sign_in(page, service)
    checked = set()
    for _, text in MESSAGES:  # whichever are still queued (confident ones are not; other tests correct some)
        msg = service["store"].get_message(service["ids"][text])
        if msg["language"] in checked:
            continue
        item = page.locator(f'[data-testid="queue-item"][data-id="{msg["id"]}"]')
        if not item.count():
            continue  # not queued: confident enough
        item.click()
        expect(page.get_by_test_id("detail-title")).to_contain_text(str(msg["id"]))
        tick = page.locator('[data-testid="pred-topic"] .bar-tick')
        expect(tick).to_have_count(1)
        want = engine.threshold("topic", msg["language"])
        left = float(tick.evaluate("e => e.style.left").rstrip("%"))
        assert abs(left - want * 100) < 0.06, (msg["language"], left, want)
        checked.add(msg["language"])
    assert len(checked) >= 2, checked  # two languages with different thresholds
    assert_clean(page)


# Last in this module: they add messages to the shared queue.


def test_load_more_keeps_the_reviewers_unsaved_edits(page, service):
    with httpx.Client(base_url=service["base"], headers={"X-API-Key": service["intake"]}, timeout=60) as c:
        items = [{"text": f"Когда это уже закончится? Третий раз пишу, номер {i}", "channel": "x",
                  "external_id": f"lq-{i}"} for i in range(30)]
        assert c.post("/v1/classify/batch", json={"items": items}).status_code == 200
    sign_in(page, service)
    expect(page.get_by_test_id("load-more")).to_be_visible()
    title = page.get_by_test_id("detail-title").text_content()
    sel = page.get_by_test_id("select-urgency")
    orig = sel.input_value()
    other = next(v for v in sel.locator("option").evaluate_all("os => os.map(o => o.value)") if v and v != orig)
    sel.select_option(other)
    page.get_by_test_id("comment").fill("stairwell gas smell, escalate")
    page.get_by_test_id("load-more").click()
    expect(page.get_by_test_id("queue-item").nth(20)).to_be_attached()
    assert page.get_by_test_id("detail-title").text_content() == title
    assert sel.input_value() == other  # the unsaved edit survives the new page of the queue
    assert page.get_by_test_id("comment").input_value() == "stairwell gas smell, escalate"


def test_language_switch_translates_the_sign_in_error(page, service):
    page.goto(f"{service['base']}/review")
    page.get_by_test_id("lang-en").click()
    page.get_by_test_id("signin-key").fill("trg_wrongkey")
    page.get_by_test_id("signin-submit").click()
    err = page.get_by_test_id("signin-error")
    expect(err).to_contain_text("not accepted")
    page.get_by_test_id("lang-ru").click()
    expect(page.get_by_test_id("signin-submit")).to_have_text("Войти")
    expect(err).not_to_contain_text("not accepted")
    expect(err).not_to_be_empty()


# -- from an accessibility and i18n review of the page ------------------------------------------

SELECTED = '[data-testid="queue-item"][aria-current="true"]'


def test_tab_and_shift_tab_never_change_the_message_under_review(page, service):
    sign_in(page, service)
    page.keyboard.press("j")
    chosen = page.locator(SELECTED).get_attribute("data-id")
    page.keyboard.press("1")
    topic = page.get_by_test_id("select-topic")
    page.keyboard.press("ArrowDown")  # an unsaved edit
    edited = topic.input_value()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    assert page.locator(SELECTED).get_attribute("data-id") == chosen and topic.input_value() == edited


def test_a_failed_queue_load_is_an_error_not_an_empty_queue_and_speaks_the_interface_language(page, service):
    sign_in(page, service)
    page.get_by_test_id("lang-ru").click()
    page.route("**/v1/review/queue*", lambda route, *_: route.fulfill(
        status=503, content_type="application/json",
        body='{"error": {"code": "store_unavailable", "message": "database unavailable"}}'))
    page.get_by_test_id("refresh").click()
    expect(page.get_by_test_id("toast").last).to_contain_text("Сервис временно недоступен")
    expect(page.get_by_test_id("queue-empty")).to_contain_text("Не удалось загрузить очередь")
    page.get_by_test_id("lang-en").click()


def test_holding_c_confirms_only_the_message_on_screen(page, service):
    sign_in(page, service)
    first = int(page.locator(SELECTED).get_attribute("data-id"))
    before = {int(i) for i in page.get_by_test_id("queue-item").evaluate_all("els => els.map(e => e.dataset.id)")}
    page.keyboard.down("c")
    for _ in range(3):
        page.wait_for_timeout(300)
        page.keyboard.down("c")  # auto-repeat: keydown with repeat=true
    page.keyboard.up("c")
    expect(page.locator(f'[data-testid="queue-item"][data-id="{first}"]')).to_have_count(0)
    page.wait_for_timeout(500)
    left = {int(i) for i in page.get_by_test_id("queue-item").evaluate_all("els => els.map(e => e.dataset.id)")}
    assert before - left == {first}


def test_a_critical_message_rerouted_to_the_emergency_service_says_why_in_each_language(page, service):
    # Last in the file: the message it adds tops the queue (the conflict bonus).
    from triage.engine import Triage
    from triage.store.service import NewMessage

    text = "Мұзға бала түсіп кетті, өзен жағасы, тез көмектесіңдер"
    pred = Triage.load().classify(text).to_dict()
    pred.update(needs_review=True, reasons=[*pred["reasons"], "urgency_route:critical"])
    (stored,) = service["store"].save_classified([NewMessage(text=text, channel="test", external_id="route-1")], [pred])
    sign_in(page, service)
    page.locator(f'[data-testid="queue-item"][data-id="{stored.id}"]').click()
    reasons = page.locator("#detail-reasons")
    expect(reasons).to_contain_text("Urgency “Critical”: sent to the authority the routing table names for it")
    page.get_by_test_id("lang-ru").click()
    expect(reasons).to_contain_text("направлено в ведомство, указанное для неё в таблице маршрутизации")
    page.get_by_test_id("lang-kk").click()
    expect(reasons).to_contain_text("шұғылдығы: бағыттау кестесі оған белгілеген органға жіберілді")
    assert "urgency_route:critical" not in reasons.inner_text()  # translated, not the raw code
    page.get_by_test_id("lang-en").click()
    assert_clean(page)
