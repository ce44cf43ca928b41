"""``make image`` / ``make image-check``: build the container image here and test it as a user would.

``--build-only`` (``make image``) builds and tags ``bfl-mock:<version>`` and ``bfl-mock:latest``. The full check
(``make image-check``) then:

1. runs the image with ``--network host`` on a free port given by ``BFL_MOCK_PORT`` (the default command,
   ``serve --host 0.0.0.0``) and waits for Docker's HEALTHCHECK to say healthy;
2. drives a real client job through it (submit, poll, download a JPEG), checks it runs as non-root, that the
   dashboard's packaged files are served and that ``bfl-mock --version`` is the package's;
3. runs ``serve --tls --port N`` with ``--add-host api.bfl.ai:127.0.0.1`` and the CA directory in a volume;
   the HEALTHCHECK follows ``--port``/``--tls`` from the command line, and an unmodified stdlib client inside
   the container, trusting only the CA from ``bfl-mock ca --path`` (SSL_CERT_FILE), runs a job against
   ``https://api.bfl.ai:N``.

Where things come from, so it works on a machine with no registry and no index reachable from a build:
- the daemon: a running one, else ``dockerd --storage-driver=vfs --iptables=false --bridge=none`` (Debian's
  ``docker.io``, apt-installed when missing), stopped again at the end;
- the base: ``python:3.11-slim`` if present or pullable, else a Debian root filesystem made with
  ``debootstrap`` (python3, python3-venv) and ``docker import``-ed as ``bfl-mock-base:bookworm``; the tarball is
  cached in ``~/.cache/bfl-mock/`` so the second run imports it in seconds;
- the wheels: ``pip wheel`` on the host (pinned by constraints.txt) into ``build/wheelhouse/``, installed in
  the image with ``--no-index`` (the build itself runs with ``--network none``).

Figures go to stdout and reports/image-check.json. Only the standard library: it runs with any python3.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSION = re.search(r'__version__ = "([^"]+)"', (ROOT / "mock_server/core/version.py").read_text())[1]  # type: ignore[index]
DEFAULT_BASE = "python:3.11-slim"
LOCAL_BASE = "bfl-mock-base:bookworm"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bfl-mock"
WHEELHOUSE = ROOT / "build" / "wheelhouse"
EXTRAS = "fast,contract"

# A client that knows nothing of the fake: submit, poll, download, stdlib only (runs on the host and in the image).
CLIENT = r"""
import json, sys, time, urllib.request
base, key = sys.argv[1], "image-check"
def call(url, body=None):
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                 headers={"x-key": key, "content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()
task = json.loads(call(base + "/v1/flux-dev", {"prompt": "a lighthouse at dusk", "width": 512, "height": 512}))
deadline = time.monotonic() + 60
while True:
    result = json.loads(call(task["polling_url"]))
    if result["status"] == "Ready":
        break
    assert result["status"] in ("Pending", "Task not found") or "Pending" in result["status"], result
    assert time.monotonic() < deadline, result
    time.sleep(0.2)
image = call(result["result"]["sample"])
assert image[:2] == b"\xff\xd8", image[:16]
print(json.dumps({"id": task["id"], "polling_url": task["polling_url"], "bytes": len(image)}))
"""


def log(msg: str) -> None:
    print(msg, flush=True)


def run(
    cmd: list[str], check: bool = True, timeout: float = 1800, quiet: bool = False, **kw: object
) -> subprocess.CompletedProcess[str]:
    if not quiet:
        log("+ " + " ".join(c if "\n" not in c else "<script>" for c in cmd))
    done = subprocess.run(cmd, text=True, capture_output=True, timeout=timeout, **kw)  # type: ignore[call-overload]
    if check and done.returncode != 0:
        log(done.stdout[-4000:] + "\n" + done.stderr[-4000:])
        raise SystemExit(f"image-check: {' '.join(cmd[:4])} ... exited {done.returncode}")
    return done  # type: ignore[no-any-return]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def docker_ok() -> bool:
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "info"], capture_output=True, timeout=30
    ).returncode == 0  # fmt: skip


def apt_install(*packages: str) -> None:
    run(["apt-get", "update", "-qq"], timeout=600)
    run(
        ["apt-get", "install", "-y", "-qq", *packages],
        timeout=1200,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def ensure_daemon(may_install: bool) -> None:
    """A daemon to talk to: the running one, or dockerd started here (and stopped at exit)."""
    if docker_ok():
        return
    if (not shutil.which("dockerd") or not shutil.which("docker")) and not may_install:
        raise SystemExit("image: no Docker daemon is running (start one, or `make image-check` installs docker.io)")
    if not shutil.which("dockerd") or not shutil.which("docker"):
        log("image-check: no docker daemon installed; installing Debian's docker.io")
        apt_install("docker.io")
    logf = open(tempfile.mktemp(prefix="bfl-mock-dockerd-", suffix=".log"), "w")  # noqa: SIM115
    daemon = subprocess.Popen(
        ["dockerd", "--storage-driver=vfs", "--iptables=false", "--bridge=none"],
        stdout=logf, stderr=logf, start_new_session=True,
    )  # fmt: skip

    def stop() -> None:
        log(f"image-check: stopping the dockerd it started (pid {daemon.pid})")
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()

    atexit.register(stop)
    deadline = time.monotonic() + 60
    while not docker_ok():
        if daemon.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"image-check: dockerd did not come up (log: {logf.name})")
        time.sleep(0.5)  # waiting for an external daemon's socket
    log(f"image-check: started dockerd (pid {daemon.pid})")


def image_exists(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def ensure_base(base: str | None) -> tuple[str, bool]:
    """(image, pulled): the requested base, the default if it can be had, else the debootstrap-made one."""
    if base:
        if not image_exists(base) and run(["docker", "pull", base], check=False, timeout=300).returncode != 0:
            raise SystemExit(f"image-check: base image {base} is neither present nor pullable")
        return base, True
    if image_exists(DEFAULT_BASE):
        return DEFAULT_BASE, True
    if run(["docker", "pull", DEFAULT_BASE], check=False, timeout=120).returncode == 0:
        return DEFAULT_BASE, True
    log(f"image-check: {DEFAULT_BASE} cannot be pulled; using a local Debian base ({LOCAL_BASE})")
    if image_exists(LOCAL_BASE):
        return LOCAL_BASE, False
    tarball = CACHE / "base-bookworm.tar"
    if not tarball.exists():
        if not shutil.which("debootstrap"):
            apt_install("debootstrap")
        CACHE.mkdir(parents=True, exist_ok=True)
        rootfs = Path(tempfile.mkdtemp(prefix="bfl-mock-rootfs-"))
        rootfs.chmod(0o755)  # the image's / (mkdtemp makes it 0700: the non-root user could not reach /bin)
        try:
            run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
                 "bookworm", str(rootfs), "http://deb.debian.org/debian"], timeout=1800)  # fmt: skip
            run(["chroot", str(rootfs), "apt-get", "clean"])
            shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
            partial = tarball.with_suffix(".partial")
            run(["tar", "-C", str(rootfs), "-cf", str(partial), "."])
            os.replace(partial, tarball)
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)
    run(["docker", "import", "--change", 'CMD ["python3"]', str(tarball), LOCAL_BASE], timeout=600)
    return LOCAL_BASE, False


def wheelhouse(base: str) -> None:
    """Every wheel the image needs, made on the host (pinned by constraints.txt) for the base's Python."""
    base_py = run(["docker", "run", "--rm", "--network", "none", "--entrypoint", "python3", base, "-c",
                   "import sys; print('%d.%d' % sys.version_info[:2])"]).stdout.strip()  # fmt: skip
    host_py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if base_py != host_py:
        raise SystemExit(f"image-check: the base has Python {base_py}, this host {host_py}: run with a python{base_py}")
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    for old in WHEELHOUSE.glob("bfl_mock-*.whl"):
        old.unlink()
    env = {k: v for k, v in os.environ.items() if k != "PIP_CONSTRAINT"}
    run([sys.executable, "-m", "pip", "wheel", "-q", "-c", str(ROOT / "constraints.txt"), "-w", str(WHEELHOUSE),
         f"{ROOT}[{EXTRAS}]"], env=env, timeout=1800)  # fmt: skip


def build(base_arg: str | None, offline: bool) -> dict[str, object]:
    started = time.monotonic()
    base, pulled = ensure_base(base_arg)
    use_wheelhouse = offline or not pulled
    if use_wheelhouse:
        wheelhouse(base)
    else:
        shutil.rmtree(WHEELHOUSE, ignore_errors=True)
    prepared = time.monotonic()
    cmd = ["docker", "build", "--build-arg", f"BASE={base}", "-t", f"bfl-mock:{VERSION}", "-t", "bfl-mock:latest"]
    if use_wheelhouse:
        cmd += ["--network", "none"]
    done = run(
        [*cmd, str(ROOT)], check=False, env={**os.environ, "DOCKER_BUILDKIT": os.environ.get("DOCKER_BUILDKIT", "0")}
    )
    if done.returncode != 0 and not use_wheelhouse:
        log("image-check: the build could not install from the index; retrying with a host-side wheelhouse")
        return build(base_arg, offline=True)
    if done.returncode != 0:
        log(done.stdout[-4000:] + "\n" + done.stderr[-4000:])
        raise SystemExit("image-check: docker build failed")
    built = time.monotonic()
    size = int(run(["docker", "image", "inspect", "-f", "{{.Size}}", f"bfl-mock:{VERSION}"]).stdout)
    base_size = int(run(["docker", "image", "inspect", "-f", "{{.Size}}", base]).stdout)
    log(f"image-check: built bfl-mock:{VERSION} (and :latest) on {base} in {built - started:.1f}s "
        f"(wheelhouse {prepared - started:.1f}s, docker build {built - prepared:.1f}s); "
        f"{size / 1e6:.0f} MB ({(size - base_size) / 1e6:.0f} MB over the base)")  # fmt: skip
    return {"base": base, "wheelhouse": use_wheelhouse, "build_s": round(built - started, 1),
            "docker_build_s": round(built - prepared, 1), "size_mb": round(size / 1e6),
            "added_over_base_mb": round((size - base_size) / 1e6)}  # fmt: skip


class Container:
    def __init__(self, *args: str) -> None:
        self.name = f"bfl-mock-check-{uuid.uuid4().hex[:8]}"
        self.started = time.monotonic()
        run(["docker", "run", "-d", "--name", self.name, "--health-interval", "1s", *args])

    def wait_healthy(self, timeout: float = 120) -> float:
        deadline = time.monotonic() + timeout
        while True:
            state = json.loads(run(["docker", "inspect", "-f", "{{json .State}}", self.name], quiet=True).stdout)
            health = (state.get("Health") or {}).get("Status")
            if health == "healthy":
                return time.monotonic() - self.started
            if not state.get("Running") or time.monotonic() > deadline:
                logs = run(["docker", "logs", self.name], check=False)
                raise SystemExit(
                    f"image-check: {self.name} not healthy ({health}):\n{logs.stdout[-2000:]}{logs.stderr[-2000:]}"
                )
            time.sleep(0.25)  # polling Docker's own health state

    def exec(self, *cmd: str, env: dict[str, str] | None = None) -> str:
        flags = [f"--env={k}={v}" for k, v in (env or {}).items()]
        return run(["docker", "exec", *flags, self.name, *cmd]).stdout

    def remove(self) -> None:
        run(["docker", "rm", "-f", "-v", self.name], check=False)


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()  # type: ignore[no-any-return]


def check(tls: bool) -> dict[str, object]:
    image = f"bfl-mock:{VERSION}"
    figures: dict[str, object] = {}
    out = run(["docker", "run", "--rm", "--network", "none", image, "--version"]).stdout.strip()
    assert out == f"bfl-mock {VERSION}", out
    config = json.loads(run(["docker", "image", "inspect", "-f", "{{json .Config}}", image]).stdout)
    assert config["Entrypoint"] == ["bfl-mock"] and config["Cmd"] == ["serve", "--host", "0.0.0.0"], config
    assert "8787/tcp" in config["ExposedPorts"], config

    port = free_port()
    c = Container("--network", "host", "-e", f"BFL_MOCK_PORT={port}", "-e", "BFL_MOCK_PROGRESSION=polls:1", image)
    try:
        figures["start_to_healthy_s"] = round(c.wait_healthy(), 2)
        log(f"  healthy after {figures['start_to_healthy_s']}s (BFL_MOCK_PORT={port}, HEALTHCHECK followed it)")
        base = f"http://127.0.0.1:{port}"
        t0 = time.monotonic()
        job = json.loads(run([sys.executable, "-c", CLIENT, base]).stdout)
        figures["client_job_s"] = round(time.monotonic() - t0, 2)
        log(f"  client job through the container: {job['bytes']} byte JPEG in {figures['client_job_s']}s")
        uid = c.exec("id", "-u").strip()
        assert uid != "0", "the container runs as root"
        log(f"  runs as uid {uid} ({c.exec('id', '-un').strip()})")
        assert b"/_mock/ui/app.js" in get(f"{base}/_mock/ui") and b"bfl-mock dashboard" in get(
            f"{base}/_mock/ui/app.js"
        )
        log("  dashboard files served (/_mock/ui, /_mock/ui/app.js)")
    finally:
        c.remove()

    if tls:
        helps = run(["docker", "run", "--rm", "--network", "none", image, "serve", "--help"]).stdout
        if "--tls" not in helps:
            raise SystemExit(
                "image-check: this build's `bfl-mock serve` has no --tls (the any-client TLS work is not in it)"
            )
        volume = f"bfl-mock-check-ca-{uuid.uuid4().hex[:8]}"
        run(["docker", "volume", "create", volume])
        port = free_port()
        c = Container("--network", "host", "--add-host", "api.bfl.ai:127.0.0.1",
                      "-v", f"{volume}:/var/lib/bfl-mock/ca", "-e", "BFL_MOCK_PROGRESSION=polls:1",
                      image, "serve", "--host", "127.0.0.1", "--port", str(port), "--tls")  # fmt: skip
        try:
            figures["tls_start_to_healthy_s"] = round(c.wait_healthy(), 2)
            ca = c.exec("bfl-mock", "ca", "--path").strip().splitlines()[-1]
            assert ca.startswith("/var/lib/bfl-mock/ca/"), f"CA not in the volume: {ca}"
            job = json.loads(c.exec("python3", "-c", CLIENT, f"https://api.bfl.ai:{port}", env={"SSL_CERT_FILE": ca}))
            log(f"  --tls: an unmodified client trusting {ca} ran a job on https://api.bfl.ai:{port} "
                f"({job['bytes']} byte JPEG; polling_url {job['polling_url'].split('?')[0]})")  # fmt: skip
            refused = run(
                ["docker", "exec", c.name, "python3", "-c", CLIENT, f"https://api.bfl.ai:{port}"], check=False
            )
            assert refused.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr, (
                "TLS trusted without the CA"
            )
            log("  --tls: without the CA the same client refuses the certificate")
        finally:
            c.remove()
            run(["docker", "volume", "rm", volume], check=False)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-only", action="store_true", help="build and tag the image only (make image)")
    parser.add_argument("--base", default=None, help=f"base image (default {DEFAULT_BASE}, else a local Debian one)")
    parser.add_argument("--offline", action="store_true", help="always install from a host-side wheelhouse")
    parser.add_argument("--skip-tls", action="store_true", help="leave out the --tls check")
    args = parser.parse_args()
    started = time.monotonic()
    ensure_daemon(may_install=not args.build_only and os.geteuid() == 0)
    figures = build(args.base, args.offline)
    if not args.build_only:
        figures |= check(tls=not args.skip_tls)
        figures["total_s"] = round(time.monotonic() - started, 1)
        (ROOT / "reports").mkdir(exist_ok=True)
        (ROOT / "reports" / "image-check.json").write_text(json.dumps(figures, indent=2) + "\n")
        log(json.dumps(figures))
        log(f"image-check: {3 if args.skip_tls else 4} passed, 0 failed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
