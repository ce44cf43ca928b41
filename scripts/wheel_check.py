"""``make wheel-check`` (run by .ci/run): users install the package, not the checkout, so this builds the wheel,
installs it (not editable) with the ``contract`` extra into a fresh venv **outside the repository**, and from an
empty folder runs what the README tells a user to run:

1. the "Try it" walk-through (``bfl-mock serve`` + curl), extracted from README.md and run with bash as pasted;
2. a pytest file made of the README's test examples, as pasted (pytest's exit 5, no tests, is a failure);
3. ``bfl-mock contract`` against the in-process fake and against a served fake (both exit 0), whose dashboard
   files (packaged in the wheel) are served;
4. ``bfl-mock canny`` and ``bfl-mock send-webhook`` (to a small receiver on loopback).

Only the standard library here: it runs with any python3.
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess:
    print("+", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, text=True, capture_output=True, **kw)  # type: ignore[call-overload]
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")
        raise SystemExit(f"wheel-check: {' '.join(cmd[:3])} ... exited {done.returncode}")
    return done


def blocks(lang: str) -> list[str]:
    return [m[1] for m in re.finditer(r"(?<!-->\n)```" + lang + r"\n(.*?)```", README, re.S)]


def free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


class Receiver(http.server.BaseHTTPRequestHandler):
    got: list[dict[str, str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        Receiver.got.append(dict(self.headers))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="bfl-mock-wheel-"))
    assert not str(work).startswith(str(ROOT))
    try:
        dist = work / "dist"
        run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)])
        wheel = next(dist.glob("bfl_mock-*.whl"))
        venv = work / "venv"
        run([sys.executable, "-m", "venv", str(venv)])
        run([str(venv / "bin" / "pip"), "install", "-q", f"{wheel}[contract]"])
        scratch = work / "scratch"
        scratch.mkdir()
        env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "BFL_CONTRACT_EXAMPLES": "50"}
        env.pop("PYTHONPATH", None)
        bfl = str(venv / "bin" / "bfl-mock")
        where = run(
            [str(venv / "bin" / "python"), "-c", "import mock_server; print(mock_server.__file__)"], cwd=scratch
        )
        assert str(venv) in where.stdout, f"mock_server imported from {where.stdout}: not the installed wheel"

        # 1. the walk-through, as pasted
        walk = next(b for b in blocks("sh") if b.startswith("bfl-mock serve"))
        if not free(8787):
            raise SystemExit("wheel-check: port 8787 is busy (the README's walk-through uses it)")
        run(["bash", "-euo", "pipefail", "-c", walk], cwd=scratch, env=env, timeout=120)
        assert (scratch / "out.jpg").read_bytes()[:2] == b"\xff\xd8", "the walk-through did not download a JPEG"
        print("  walk-through: ok", flush=True)

        # 2. the README's test examples, as pasted
        tests = [b for b in blocks("python") if re.search(r"^def test_", b, re.M)]
        for i, code in enumerate(tests):
            (scratch / f"test_readme_{i}.py").write_text(code)
        count = sum(len(re.findall(r"^def test_", b, re.M)) for b in tests)
        done = run([str(venv / "bin" / "pytest"), "-q", "-p", "no:cacheprovider"], cwd=scratch, env=env, timeout=300)
        assert f"{count} passed" in done.stdout, done.stdout[-2000:]
        print(f"  README test examples: {count} passed", flush=True)
        for script in [b for b in blocks("python") if not re.search(r"^def test_", b, re.M)]:
            run([str(venv / "bin" / "python"), "-c", script], cwd=scratch, env=env)

        # 3. the contract kit, in-process and against a served fake
        run([bfl, "contract", "--report", "reports/inprocess.md"], cwd=scratch, env=env, timeout=600)
        log = (scratch / "serve.log").open("w")
        server = subprocess.Popen([bfl, "serve", "--port", "8787"], cwd=scratch, env=env, stdout=log, stderr=log)
        try:
            deadline = time.time() + 30
            while free(8787):
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit("wheel-check: bfl-mock serve did not come up")
                time.sleep(0.1)
            done = run(
                [bfl, "contract", "--target", "http://127.0.0.1:8787", "--report", "reports/served.md"],
                cwd=scratch,
                env=env,
                timeout=600,
            )
            assert "deviates by setting `strict_finetunes=false`" in done.stdout, done.stdout[-2000:]
            import urllib.request  # the dashboard's files ship in the wheel

            for path, marker in (("/_mock/ui", b"/_mock/ui/app.js"), ("/_mock/ui/app.js", b"bfl-mock dashboard")):
                with urllib.request.urlopen(f"http://127.0.0.1:8787{path}", timeout=10) as page:
                    assert page.status == 200 and marker in page.read(), path
        finally:
            server.terminate()
            server.wait(20)
        print(
            "  contract: in-process and served fake agree (configured deviations reported); dashboard served",
            flush=True,
        )

        # 4. canny and send-webhook
        image = ROOT / "fixtures" / "images" / "camera.png"
        done = run([bfl, "canny", str(image), "--low", "100", "--high", "200", "-o", "edges.png"], cwd=scratch)
        assert (scratch / "edges.png").read_bytes()[:4] == b"\x89PNG", done.stdout
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
            run([bfl, "send-webhook", url, "--secret", "s3cret"], cwd=scratch, env=env)
        finally:
            httpd.shutdown()
        assert Receiver.got and Receiver.got[0].get("X-Webhook-Secret") == "s3cret"
        print("  canny and send-webhook: ok", flush=True)
        print("wheel-check: 4 passed, 0 failed")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
