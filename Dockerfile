# The connector as a container: `connector run` syncs every sync.interval_minutes.
#   docker build -t moneybird-connector .
#   docker run -d --name connector \
#     -v "$PWD/config.toml:/config/config.toml:ro" -v "$PWD/mappings:/config/mappings:ro" \
#     -v connector-data:/data \
#     -e MONEYBIRD_TOKEN -e WOOCOMMERCE_CONSUMER_KEY -e WOOCOMMERCE_CONSUMER_SECRET \
#     moneybird-connector
# The state goes to the /data volume (CONNECTOR_STATE_DIR) unless config.toml names an absolute
# path on purpose.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CONNECTOR_CONFIG=/config/config.toml \
    CONNECTOR_HEALTH_PORT=8080 \
    CONNECTOR_HEALTH_HOST=0.0.0.0 \
    CONNECTOR_DASHBOARD_HOST=0.0.0.0 \
    CONNECTOR_STATE_DIR=/data

WORKDIR /app
RUN groupadd --system --gid 10001 connector \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin connector \
 && mkdir -p /data /config \
 && chown connector:connector /data
# Dependencies first, from the hashed lock file, in a layer of their own: a code change does
# not reinstall them, and every build gets the versions the tests ran with.
COPY requirements.txt ./
RUN pip install --require-hashes -r requirements.txt
# The package itself; the default tables and example config are installed with it.
COPY pyproject.toml README.md config.toml ./
COPY mappings ./mappings
COPY connector ./connector
RUN pip install --no-deps . && rm -r build *.egg-info

# Default tables and example config; mount your own over /config.
COPY mappings /config/mappings
COPY config.toml /config/config.toml

# Runs as uid 10001: secret files mounted into it (Docker secrets, *_FILE) must be readable by
# that uid, e.g. `sudo chown 10001 secrets/*` on the host (README, *The container*).
USER connector
VOLUME ["/data"]

# /healthz answers 200 when the last pass succeeded within two sync intervals and authentication
# works; it listens on all interfaces in the container, so `-p 8080:8080` reaches it.
EXPOSE 8080
# The dashboard, when config.toml has [dashboard] enabled = true: `-p 8081:8081` publishes it.
# Off loopback every page needs sign-in: give it -e DASHBOARD_TOKEN (16 characters or more) and
# the name you reach it by in [dashboard] hosts.
EXPOSE 8081
HEALTHCHECK --interval=1m --timeout=10s --start-period=2m --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=8).status == 200 else 1)"]

CMD ["connector", "run"]
