"""The Swagger UI renders through the proxy in a real browser and can call the API.

Headless Chromium runs on the machine running the tests and reaches the server's address on the
scenario network; it trusts the served certificate by its public key (no CA store to edit).
"""

from __future__ import annotations

import base64
import hashlib
import socket
import ssl
import tempfile
from collections.abc import Iterator

import pytest
from conftest import Site
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

testinfra_hosts = ["ansible://fastapi_servers"]


def served_spki_hash(site: Site) -> str:
    """Base64 SHA-256 of the served leaf's public key, as Chromium's SPKI allow-list wants it."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only reading the key that the pin then names
    with (
        socket.create_connection((site.server_address, 443), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=site.domain) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    spki = (
        x509.load_der_x509_certificate(der)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    profile = tempfile.TemporaryDirectory()
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile.name}",
        f"--host-resolver-rules=MAP {site.domain} {site.server_address}",
        f"--ignore-certificate-errors-spki-list={served_spki_hash(site)}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    profile.cleanup()


def test_swagger_ui_lists_the_operations(browser: WebDriver, site: Site) -> None:
    browser.get(site.url("/docs"))
    WebDriverWait(browser, 20).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".opblock"))
    )
    paths = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/app", "/items/{item_id}"} <= {p.replace("\u200b", "") for p in paths}


def test_swagger_ui_executes_a_request_through_the_proxy(browser: WebDriver, site: Site) -> None:
    browser.get(site.url("/docs"))
    wait = WebDriverWait(browser, 20)
    app_operation = (By.CSS_SELECTOR, ".opblock-get .opblock-summary-path[data-path='/app']")
    wait.until(expected_conditions.element_to_be_clickable(app_operation)).click()
    for button in (".try-out__btn", ".execute"):
        clickable = expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, button))
        wait.until(clickable).click()
    status = wait.until(
        expected_conditions.presence_of_element_located(
            (By.CSS_SELECTOR, ".live-responses-table .response .response-col_status")
        )
    )
    assert status.text.strip().startswith("200")
    body = browser.find_element(By.CSS_SELECTOR, ".live-responses-table .microlight").text
    assert site.prefix in body
