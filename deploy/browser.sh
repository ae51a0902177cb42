#!/usr/bin/env bash
# The browser the console's end-to-end test drives: Debian's chromium and chromium-driver,
# installed where missing (Selenium is pointed at them, so its Selenium Manager downloads nothing).
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "installing chromium and chromium-driver (Debian's packages) ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-noto-cjk >&2
fi
chromium --version 2>/dev/null | head -1 || true
