#!/usr/bin/env python3
"""Drives headless Chromium (Debian's `chromium`) through the DevTools protocol for the console's
tests: signs in through the login form, loads each page, acts through the forms, and checks
what is shown; writes a screenshot of each main page.

    browser.py --url http://127.0.0.1:PORT --user ops --password PASS --screenshots DIR [--region 330802]

Prints one "ok: ..." line per check; exits 1 with "FAILED: ..." on the first failure.
"""
import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import websocket  # websocket-client (PyPI)


def check(condition, what):
    if not condition:
        sys.exit(f"FAILED: {what}")
    print(f"ok: {what}", flush=True)


class Browser:
    def __init__(self):
        chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        if not chromium:
            sys.exit("FAILED: chromium is not installed (apt-get install chromium)")
        self.profile = tempfile.mkdtemp(prefix="console-chromium-")
        self.process = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}", "--window-size=1280,1000", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        endpoint = None
        deadline = time.time() + 60
        while time.time() < deadline and endpoint is None:
            line = self.process.stderr.readline()
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            if match:
                endpoint = match.group(1)
        check(endpoint is not None, "headless Chromium started")
        browser = websocket.create_connection(endpoint, timeout=60)
        self.ids = 0
        self.ws = browser
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Page.enable", session=True)
        self.send("Runtime.enable", session=True)
        self.send("Emulation.setDeviceMetricsOverride", session=True, width=1280, height=1000, deviceScaleFactor=1, mobile=False)

    def send(self, method, session=False, **params):
        self.ids += 1
        message = {"id": self.ids, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        while True:
            answer = json.loads(self.ws.recv())
            if answer.get("id") == self.ids:
                if "error" in answer:
                    raise CDPError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def wait_loaded(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            state = self.evaluate("document.readyState")
            if state == "complete":
                return
            time.sleep(0.1)
        sys.exit("FAILED: the page did not load")

    def go(self, url):
        self.run_and_wait_for_new_page(f"location.href = {json.dumps(url)};")

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def text(self):
        return self.evaluate("document.body.innerText") or ""

    def submit(self, form, fields):
        script = "".join(f"document.querySelector({json.dumps(f'#{form} [name={name}]')}).value = {json.dumps(value)};" for name, value in fields.items())
        self.run_and_wait_for_new_page(script + f"document.querySelector('#{form}').submit();")

    def run_and_wait_for_new_page(self, script, timeout=60):
        """Runs `script`, which navigates, and waits until the new page has loaded (the old one
        is marked first, so that its own `complete` state is not taken for the new one's)."""
        # The script navigates: Chromium may answer its evaluation, or a check made while the
        # page changes, with "Inspected target navigated or closed". That is the navigation
        # under way, not a failure: look again.
        try:
            self.evaluate("window.__old_page = true;" + script)
        except CDPError as error:
            if "navigated" not in str(error):
                raise
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.evaluate("window.__old_page === undefined && document.readyState === 'complete'"):
                    return
            except CDPError as error:
                if "navigated" not in str(error) and "context" not in str(error):
                    raise
            time.sleep(0.1)
        sys.exit("FAILED: the next page did not load")

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=True)["data"]
        with open(path, "wb") as out:
            out.write(base64.b64decode(data))

    def close(self):
        try:
            self.ws.close()
        finally:
            self.process.kill()
            self.process.wait()
            shutil.rmtree(self.profile, ignore_errors=True)


class CDPError(Exception):
    """Chromium's DevTools protocol answered a command with an error."""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--viewer", help="a second user, NAME:PASSWORD, whose role may not act")
    parser.add_argument("--region", default="330802")
    parser.add_argument("--clinic", default="H33080200101")
    parser.add_argument("--screenshots", required=True)
    args = parser.parse_args()
    os.makedirs(args.screenshots, exist_ok=True)
    b = Browser()
    try:
        b.go(args.url + "/")
        check("/login" in b.evaluate("location.pathname"), "a page asked without signing in leads to the sign-in form")
        b.submit("login", {"name": args.user, "password": "wrong"})
        check("用户名或密码错误" in b.text(), "a wrong password is refused with a message")
        b.submit("login", {"name": args.user, "password": args.password})
        check(b.evaluate("location.pathname") == "/", "signing in leads to the overview")

        b.go(f"{args.url}/?region=33")
        text = b.text()
        check("覆盖概览" in text and "定点进度" in text, "the overview shows coverage and progress, in Chinese")
        check(b.evaluate("document.querySelectorAll('#coverage table a').length") >= 1, "the province's table lists its cities, each a link")
        check(b.evaluate("document.querySelectorAll('#progress svg path').length") >= 1, "the progress chart is an SVG line")
        b.screenshot(os.path.join(args.screenshots, "overview-province.png"))
        b.go(f"{args.url}/?region={args.region}")
        links = b.evaluate("Array.from(document.querySelectorAll('#coverage table a')).map(a => a.getAttribute('href'))") or []
        check(len(links) >= 1 and all(re.fullmatch(rf"/\?region={args.region}\d{{3}}", link) for link in links),
              f"drilling down to {args.region} lists its townships, each a link one level down ({links[:3]})")
        b.screenshot(os.path.join(args.screenshots, "overview-county.png"))
        b.go(f"{args.url}/?region={args.region}&lang=en")
        check("Coverage" in b.text() and "Designation progress" in b.text(), "English is available")
        b.go(f"{args.url}/ledger?region={args.region}&lang=zh")
        check("工作台账" in b.text(), "the work ledger shows")
        b.screenshot(os.path.join(args.screenshots, "ledger.png"))
        b.go(f"{args.url}/settlements?region={args.region}")
        check("结算与基金支付" in b.text() and b.evaluate("document.querySelectorAll('#settlements svg rect').length") >= 1,
              "settlements and fund paid per day, as a bar chart")
        b.screenshot(os.path.join(args.screenshots, "settlements.png"))
        b.go(f"{args.url}/supervision?region={args.region}")
        check("实时监控预警" in b.text() and "案件" in b.text(), "supervision shows alerts and cases")
        b.screenshot(os.path.join(args.screenshots, "supervision.png"))

        b.go(f"{args.url}/actions")
        b.submit("check-ledger", {})
        check("balanced true" in b.text(), "the ledger check runs from the console")
        b.go(f"{args.url}/actions")
        b.submit("verify-audit", {})
        check("intact true" in b.text(), "the audit chain verifies from the console")
        b.go(f"{args.url}/actions")
        b.submit("designation", {"fixmedins_code": args.clinic, "action": "suspend", "reason": "协议检查"})
        check(f"{args.clinic}: suspended" in b.text(), "an operator suspends a clinic")
        b.go(f"{args.url}/actions")
        b.submit("designation", {"fixmedins_code": args.clinic, "action": "restore", "reason": "整改完成"})
        check(f"{args.clinic}: designated" in b.text(), "and restores it")
        b.screenshot(os.path.join(args.screenshots, "actions.png"))
        # A form posted without the session's token (as another site's page would) is refused.
        b.run_and_wait_for_new_page("document.querySelector('#check-ledger [name=form_token]').value = 'forged';"
                                    "document.querySelector('#check-ledger').submit();")
        check("form_token" in b.text(), "a form without the session's token is refused")

        if args.viewer:
            name, password = args.viewer.split(":", 1)
            b.run_and_wait_for_new_page("document.querySelector('header form').submit();")
            b.submit("login", {"name": name, "password": password})
            b.go(f"{args.url}/actions")
            b.submit("designation", {"fixmedins_code": args.clinic, "action": "suspend", "reason": "x"})
            check("无权限" in b.text(), "a user whose role may not change designations is refused by the access table")
            b.go(f"{args.url}/?region=34")
            check("无权限" in b.text(), "a region-scoped user cannot see another province")
    except CDPError as error:
        sys.exit(f"FAILED: {error}")
    finally:
        b.close()


if __name__ == "__main__":
    main()
