#!/usr/bin/env bash
# Installs (once) the browser the widget's browser tests and bench drive: Debian's `chromium`, at
# /usr/bin/chromium (playwright-core launches it with that executablePath; it downloads nothing).
# Idempotent: with chromium present it only prints its version. Needs root to install.
set -euo pipefail
log() { printf 'browser: %s\n' "$*" >&2; }

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "browser.sh needs root to install chromium (apt-get install chromium)" >&2
    exit 1
  fi
  log "installing chromium (Debian package, once)"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null
fi
/usr/bin/chromium --version >&2
