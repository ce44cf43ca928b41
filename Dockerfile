# bfl-mock as a container: `docker run -p 8787:8787 bfl-mock` serves BFL's API on 8787 (see docs/container.md).
#
# BASE: any Debian-family image with python3 >= 3.10 and its venv module (default: the official slim Python).
# EXTRAS: the package extras installed (fast = uvloop/httptools; contract = `bfl-mock contract` inside the image).
# Offline builds: put wheels (bfl_mock-*.whl and every dependency) in build/wheelhouse/ and they are installed
# with --no-index; `make image` does that for you when no index is reachable from inside a build.
ARG BASE=python:3.11-slim

# --- stage 1: wheels and the virtualenv (anything a build needs stays here) -------------------------------
FROM ${BASE} AS wheels
ARG EXTRAS=fast,contract
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY . /src
RUN set -eux; \
    python3 -m venv /opt/bfl-mock; \
    if ls /src/build/wheelhouse/bfl_mock-*.whl >/dev/null 2>&1; then \
        mkdir -p /wheels && cp /src/build/wheelhouse/*.whl /wheels/; \
    else \
        /opt/bfl-mock/bin/pip wheel -q -c /src/constraints.txt -w /wheels "/src[${EXTRAS}]"; \
    fi; \
    /opt/bfl-mock/bin/pip install -q --no-index --find-links /wheels "bfl-mock[${EXTRAS}]"; \
    /opt/bfl-mock/bin/pip uninstall -q -y pip; \
    find /opt/bfl-mock -name '__pycache__' -prune -exec rm -rf {} +; \
    install -m 0755 /src/docker/healthcheck.py /opt/bfl-mock/bin/bfl-mock-healthcheck

# --- stage 2: runtime (no compilers, no pip, no wheels; one non-root user) ------------------------------------
# Metadata first and the virtualenv last: with Docker's vfs driver every instruction copies the image so far.
FROM ${BASE}
LABEL org.opencontainers.image.title="bfl-mock" \
      org.opencontainers.image.description="A local fake of Black Forest Labs' image API, for tests and CI" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/bfl-mock/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BFL_MOCK_CA_DIR=/var/lib/bfl-mock/ca
RUN set -eux; \
    useradd --system --uid 10001 --user-group --create-home --home-dir /home/bfl-mock bfl-mock; \
    mkdir -p /var/lib/bfl-mock/ca; chown -R bfl-mock:bfl-mock /var/lib/bfl-mock; chmod 0700 /var/lib/bfl-mock/ca
# The local CA (`bfl-mock ca --path`, used by `serve --tls`): keep it in a volume so clients can trust it.
VOLUME ["/var/lib/bfl-mock/ca"]
EXPOSE 8787
# Follows the port and scheme the server was actually started with (--port / --tls / BFL_MOCK_PORT / config).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["bfl-mock-healthcheck"]
ENTRYPOINT ["bfl-mock"]
CMD ["serve", "--host", "0.0.0.0"]
WORKDIR /home/bfl-mock
USER bfl-mock:bfl-mock
COPY --from=wheels /opt/bfl-mock /opt/bfl-mock
