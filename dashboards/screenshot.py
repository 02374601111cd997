"""``python -m dashboards.screenshot URL OUT.png``: a full-page PNG of a rendered dashboard.

Drives Debian's headless Chromium through its chromedriver, given explicitly because Selenium
Manager would try to download a driver and there is no network for that. It waits until the
page's data has rendered (an element matching ``--ready`` has text, no Dash callback is still
loading, every graph has drawn), then sizes the window to the page and saves it. The dashboard
asks for a sign-in first: :func:`sign_in` fills the login form (``--user``, password from
``--password`` or ``CHANNELHUB_DASHBOARD_PASSWORD``; the defaults are the development analyst).
The README's picture comes from here, and :func:`chromium` and :func:`sign_in` are what the
browser tests use.
"""

import sys
import tempfile
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode, urlsplit

import typer
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Pages put the time of their last refresh in an element of this class once data is drawn.
READY = ".page-updated"

_RENDERED = """
const ready = document.querySelector(arguments[0]);
if (!ready || !ready.textContent.trim()) return false;
if (document.querySelector('[data-dash-is-loading="true"]')) return false;
const graphs = document.querySelectorAll('.dash-graph');
return [...graphs].every(g => g.querySelector('.main-svg'));
"""


def chromium(user_data_dir: Path, *, width: int = 1440, height: int = 1000) -> WebDriver:
    """Headless Debian Chromium with a throwaway profile in ``user_data_dir``."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        f"--user-data-dir={user_data_dir}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def wait_rendered(driver: WebDriver, *, ready: str = READY, timeout: float = 60.0) -> None:
    """Block until the page shows data (see the module docstring); raise TimeoutException."""
    WebDriverWait(driver, timeout, poll_frequency=0.2).until(
        lambda d: d.execute_script(_RENDERED, ready)
    )


def sign_in(driver: WebDriver, url: str, user: str, password: str, timeout: float = 30.0) -> None:
    """Sign in through the login form and land on ``url``; raise TimeoutException if refused."""
    parts = urlsplit(url)
    target = parts.path or "/"
    driver.get(f"{parts.scheme}://{parts.netloc}/login?{urlencode({'next': target})}")
    driver.find_element(By.ID, "login-username").send_keys(user)
    driver.find_element(By.ID, "login-password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
    WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: urlsplit(d.current_url).path == target
    )


def capture(
    url: str, out: Path, *, user: str, password: str, width: int, ready: str, timeout: float
) -> None:
    """Sign in, open ``url``, wait for its data, and save the whole page to ``out``."""
    with tempfile.TemporaryDirectory(prefix="channelhub-chromium-") as profile:
        driver = chromium(Path(profile), width=width)
        try:
            sign_in(driver, url, user, password, timeout)
            wait_rendered(driver, ready=ready, timeout=timeout)
            chrome, height = driver.execute_script(
                "return [window.outerHeight - window.innerHeight,"
                " document.documentElement.scrollHeight]"
            )
            driver.set_window_size(width, int(chrome) + int(height))
            wait_rendered(driver, ready=ready, timeout=timeout)  # graphs redraw on resize
            out.parent.mkdir(parents=True, exist_ok=True)
            if not driver.save_screenshot(str(out)):
                raise OSError(f"Chromium could not write {out}")
        finally:
            driver.quit()


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command(
    help="A full-page PNG of a rendered dashboard page, after signing in, once its data is drawn."
)
def main(
    url: Annotated[str, typer.Argument(help="Page to capture, e.g. http://127.0.0.1:18050/.")],
    out: Annotated[Path, typer.Argument(help="PNG file to write.")],
    user: Annotated[str, typer.Option(help="Dashboard user to sign in as.")] = "analyst",
    password: Annotated[
        str,
        typer.Option(
            envvar="CHANNELHUB_DASHBOARD_PASSWORD",
            help="Its password (default: the development analyst's).",
        ),
    ] = "dev-analyst",
    width: Annotated[int, typer.Option(help="Viewport width in pixels.")] = 1440,
    ready: Annotated[str, typer.Option(help="CSS selector that has text once loaded.")] = READY,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for data.")] = 60.0,
) -> None:
    try:
        capture(url, out, user=user, password=password, width=width, ready=ready, timeout=timeout)
    except TimeoutException as e:
        print(
            f"screenshot: {url} showed no data within {timeout:.0f} s "
            f"(waited for the sign-in as {user!r}, then for text in {ready!r}); "
            "is the dashboard running, and is the password right?",
            file=sys.stderr,
        )
        raise typer.Exit(1) from e
    print(f"screenshot: wrote {out}")


if __name__ == "__main__":
    app(prog_name="python -m dashboards.screenshot")
