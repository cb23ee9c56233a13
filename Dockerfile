# sunpower-pvs-exporter in a container. Build and run (docs/monitoring.md, "Container"):
#
#   docker build -t sunpower-pvs-exporter .
#   docker run --rm -p 9110:9110 sunpower-pvs-exporter                                  # demo
#   docker run --rm -p 9110:9110 sunpower-pvs-exporter --demo --demo-api varserver      # new-firmware demo
#   docker run --rm -p 9110:9110 sunpower-pvs-exporter --hostname 172.27.153.1          # a PVS on LAN1
#
# The container reaches the PVS through the host's routing (a Raspberry Pi wired
# to LAN1 reaches 172.27.153.1 from the container as from the host), as in
# contrib/stack/. Not built in CI (no Docker engine there): tests/contrib/test_container.py
# checks this file against the docs statically.
FROM python:3.12-slim

WORKDIR /opt/sunpower-pvs-exporter
COPY pyproject.toml README.md ./
COPY src ./src
# Installed the way the README's first command installs it
# (tests/contrib/test_container.py keeps this line identical to the README's).
RUN python3 -m venv .venv && .venv/bin/pip install -e .
# The exporter's user below cannot write __pycache__ beside the (editable)
# source: compile it here, or every start compiles it again
# (benchmarks/RESULTS.md, footprint: a slower start and ~1 MiB more RSS).
RUN .venv/bin/python -m compileall -q src

# Not root: a fixed unprivileged uid, no home, no shell.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin exporter
USER 10001

EXPOSE 9110
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["/opt/sunpower-pvs-exporter/.venv/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9110/-/healthy', timeout=4)"]
ENTRYPOINT ["/opt/sunpower-pvs-exporter/.venv/bin/sunpower-pvs-exporter"]
# The simulated PVS, as the README's first command; give real flags to read a PVS.
CMD ["--demo"]
