"""The rating page in a real headless Chromium (selenium): a rater enters a name, scores every
picture of a small study with the mouse and the keys 1–5, reloads midway and resumes where they
stopped, ends on the thank-you page, and the scores on disk are exactly the ones given.
Skipped only when selenium or chromium/chromedriver are missing (.ci/run installs them)."""

from __future__ import annotations

from hmh_train.study.folder import load_study, rater_order
from hmh_train.study.store import effective, parse_lines

WAIT_S = 60  # an upper bound for a page to react, never a measured time


def state(driver) -> str:
    return driver.execute_script("return document.body.dataset.state")


def wait_for(driver, condition, what: str):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, WAIT_S).until(lambda d: condition(d))
    except TimeoutException:
        page = driver.execute_script(
            "return [document.body.dataset.state, location.href, "
            "document.getElementById('message').textContent]"
        )
        raise AssertionError(f"waited {WAIT_S} s for {what}; page state, url, message: {page}") from None


def wait_rating(driver, previous=None) -> str:
    """Wait until a new picture is shown and scorable; returns its item id."""
    from selenium.webdriver.common.by import By

    def ready(d):
        item = d.find_element(By.ID, "picture").get_attribute("data-item")
        return item if state(d) == "rating" and item != previous else None

    return wait_for(driver, ready, "a picture to rate")


def visible(driver) -> dict:
    """Which parts of the page a rater can see."""
    from selenium.webdriver.common.by import By

    parts = ("name-view", "rate-view", "done-view", "picture", "instructions")
    seen = {part: driver.find_element(By.ID, part).is_displayed() for part in parts}
    seen["buttons"] = [
        b.is_displayed() and b.is_enabled() for b in driver.find_elements(By.CSS_SELECTOR, ".score")
    ]
    return seen


def no_secrets(driver, study):
    page = driver.page_source
    leaked = [name for name in set(study.methods) | set(study.samples) | {"runA", "runB"} if name in page]
    assert leaked == [], f"the page shows {leaked}"


def test_rating_a_study_with_mouse_and_keys_reloading_midway(browser, fresh_study, live_server):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    study = load_study(fresh_study)
    server = live_server(fresh_study)
    browser.get(server.url + "/")
    wait_for(browser, lambda d: state(d) == "name", "the name form")
    assert "Score how real each picture looks" in browser.find_element(By.ID, "instructions").text
    assert visible(browser) == {
        "name-view": True,
        "rate-view": False,
        "done-view": False,
        "picture": False,
        "instructions": True,
        "buttons": [False] * 5,
    }
    field = browser.find_element(By.ID, "name")
    field.send_keys("Ann Example")
    field.send_keys(Keys.ENTER)

    given, shown, item = {}, [], None
    for k in range(len(study.items)):
        item = wait_rating(browser, item)
        assert browser.find_element(By.ID, "progress-text").text == f"Picture {k + 1} of 6"
        assert browser.find_element(By.ID, "rater-name").text == "Ann Example"
        no_secrets(browser, study)
        assert visible(browser) == {
            "name-view": False,
            "rate-view": True,
            "done-view": False,
            "picture": True,
            "instructions": True,
            "buttons": [True] * 5,
        }
        assert browser.execute_script("return document.getElementById('picture').naturalWidth") == 64
        score = 1 + (3 * k + 1) % 5
        if k % 2 == 0:
            browser.find_element(By.CSS_SELECTOR, f'.score[data-score="{score}"]').click()
        else:
            ActionChains(browser).send_keys(str(score)).perform()
        given[item] = score
        shown.append(item)
        if k == 2:  # leave midway: reload; the page resumes at picture 4 of 6
            wait_for(
                browser,
                lambda d, item=item: state(d) == "rating"
                and d.find_element(By.ID, "picture").get_attribute("data-item") != item,
                "the 4th picture",
            )
            assert "rater=Ann%20Example" in browser.current_url
            browser.refresh()
            item = None

    wait_for(browser, lambda d: state(d) == "done", "the thank-you page")
    assert "Thank you" in browser.find_element(By.ID, "done-view").text
    assert {k: v for k, v in visible(browser).items() if k.endswith("view")} == {
        "name-view": False,
        "rate-view": False,
        "done-view": True,
    }
    assert "you have scored all 6 pictures" in browser.find_element(By.ID, "done-text").text
    no_secrets(browser, study)

    assert shown == rater_order(study, "Ann Example")
    records, problems = parse_lines((fresh_study / "ratings.jsonl").read_bytes())
    assert problems == [] and len(records) == 6
    assert {key: r["score"] for key, r in effective(records).items()} == {
        ("Ann Example", i): s for i, s in given.items()
    }

    # keys other than 1–5 do nothing; a rater arriving with ?rater=NAME starts at once
    browser.get(server.url + "/?rater=Bob")
    first = wait_rating(browser)
    assert first == rater_order(study, "Bob")[0]
    ActionChains(browser).send_keys("7").send_keys("a").perform()
    browser.get(server.url + "/?rater=Bob")
    assert wait_rating(browser) == first
    assert browser.find_element(By.ID, "progress-text").text == "Picture 1 of 6"
    assert parse_lines((fresh_study / "ratings.jsonl").read_bytes())[0] == records


def test_a_score_the_server_refuses_is_shown_and_not_lost(browser, fresh_study, live_server):
    """A stopped server: the page says the score was not saved and keeps the picture."""
    from selenium.webdriver.common.by import By

    server = live_server(fresh_study)
    browser.get(server.url + "/?rater=Cy")
    item = wait_rating(browser)
    server.close()
    browser.find_element(By.CSS_SELECTOR, '.score[data-score="3"]').click()
    wait_for(browser, lambda d: d.find_element(By.ID, "message").is_displayed(), "the error message")
    assert browser.find_element(By.ID, "message").text.startswith("Not saved:")
    assert state(browser) == "rating"
    assert browser.find_element(By.ID, "picture").get_attribute("data-item") == item
    assert (fresh_study / "ratings.jsonl").read_bytes() == b""


def test_a_held_key_or_a_double_click_scores_only_the_picture_the_rater_saw(
    browser, fresh_study, live_server
):
    """A key held down repeats, and a double click clicks twice: on a fast network the next
    picture is already shown when the repeat (or the second click) arrives, which would score
    a picture the rater never looked at. Only the first press of a key and single clicks count."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    study = load_study(fresh_study)
    server = live_server(fresh_study)
    browser.get(server.url + "/?rater=Dee")
    first = wait_rating(browser)
    browser.execute_script(  # what the browser sends while a key is held: keydown with repeat
        "document.dispatchEvent(new KeyboardEvent('keydown', {key: '4', repeat: true, bubbles: true}));"
        # the second click of a double click (detail counts the clicks of the series)
        "document.querySelector('.score[data-score=\"2\"]').dispatchEvent("
        "new MouseEvent('click', {detail: 2, bubbles: true}));"
    )
    assert state(browser) == "rating"
    ActionChains(browser).send_keys("5").perform()  # a real single press
    second = wait_rating(browser, first)
    browser.find_element(By.CSS_SELECTOR, '.score[data-score="1"]').click()  # a real single click
    wait_rating(browser, second)
    records, problems = parse_lines((fresh_study / "ratings.jsonl").read_bytes())
    assert problems == [] and [(r["item"], r["score"]) for r in records] == [(first, 5), (second, 1)]
    assert [first, second] == rater_order(study, "Dee")[:2]
