"""Real headless Chromium for dashboard tests, and waits that poll for text instead of sleeping.

The driver comes from :func:`dashboards.screenshot.chromium` (Debian's chromium and
chromedriver, never Selenium Manager). A missing browser fails the test with the install hint.
Every page wants a signed-in user: :func:`sign_in_as` signs in as one of the development users
(``dashboards/users.toml``, password ``dev-<role>``) before opening a page.
"""

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from dashboards.screenshot import CHROMEDRIVER, CHROMIUM, chromium, sign_in

WAIT_S = 30.0


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """A fresh headless Chromium with its own profile; quit after the test."""
    for program in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(program):
            pytest.fail(
                f"{program} not found: install Debian's chromium and chromium-driver "
                "(`make setup` or `apt-get install chromium chromium-driver`)",
                pytrace=False,
            )
    driver = chromium(tmp_path / "chromium-profile")
    yield driver
    driver.quit()


def sign_in_as(driver: WebDriver, url: str, role: str = "analyst") -> None:
    """Sign in as the development user of ``role`` and open ``url``."""
    sign_in(driver, url, role, f"dev-{role}", WAIT_S)


def text_of(driver: WebDriver, element_id: str) -> str:
    """The element's text now; read again if Dash re-rendered it between finding and reading
    (live pages refresh every second in the tests)."""
    for _ in range(10):
        try:
            return str(driver.find_element(By.ID, element_id).text)
        except StaleElementReferenceException:
            continue
    raise AssertionError(f"#{element_id} kept being re-rendered: could not read it")


def wait_for_text(driver: WebDriver, element_id: str, expected: str | Callable[[str], bool]) -> str:
    """Wait until ``#element_id`` shows ``expected`` (or satisfies it); return the text.

    On timeout the message shows what the element said last, which is what a reader needs.
    """
    check = expected if callable(expected) else (lambda text: text == expected)
    seen: list[str] = []

    def ready(d: WebDriver) -> bool:
        elements = d.find_elements(By.ID, element_id)
        seen.append(elements[0].text if elements else "<no such element>")
        return bool(elements) and check(seen[-1])

    try:
        # An element Dash re-renders between finding and reading it is read again next poll.
        WebDriverWait(
            driver, WAIT_S, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException]
        ).until(ready)
    except TimeoutException:
        last = repr(seen[-1]) if seen else "nothing"
        raise AssertionError(
            f"#{element_id} did not show {expected!r} within {WAIT_S:.0f} s; it showed {last}"
        ) from None
    return seen[-1]


def table_rows(driver: WebDriver, element_id: str) -> list[list[str]]:
    """The cell texts of the body rows of the table in ``#element_id``, once it has drawn
    (tables are drawn by a component loaded on first use, a moment after the page's numbers).
    """
    selector = f"#{element_id} tbody tr"
    try:
        WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, selector)
        )
    except TimeoutException:
        raise AssertionError(f"no table rows in #{element_id} within {WAIT_S:.0f} s") from None
    return [
        [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        for row in driver.find_elements(By.CSS_SELECTOR, selector)
    ]


def type_text(element: WebElement, text: str, attempts: int = 3) -> None:
    """Replace an input's text with ``text`` as a person types it, and make sure it took.

    On a loaded machine a re-render can move the caret while keys are being sent, which
    shuffles the characters; then the input is cleared and typed again.
    """
    for _ in range(attempts):
        element.clear()
        element.send_keys(text)
        if element.get_attribute("value") == text:
            return
    raise AssertionError(
        f"could not type {text!r}: the input holds {element.get_attribute('value')!r}"
    )
