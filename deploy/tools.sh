#!/usr/bin/env bash
# Tools the test suite checks the deployment files with: promtool, from Debian's prometheus.
set -euo pipefail
if ! command -v promtool >/dev/null 2>&1; then
  echo "installing promtool (Debian's prometheus package) ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends prometheus >&2
  # the package starts a Prometheus server of its own; the tests need only promtool
  (systemctl stop prometheus || service prometheus stop || pkill -x prometheus) >/dev/null 2>&1 || true
fi
promtool --version | head -1
