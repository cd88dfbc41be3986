# Sourced by scripts/test: Debian's Chromium for the browser tests (tests/api/web), installed
# from the distribution's packages -- Playwright's own browser download is never used. Without
# root and apt-get (a laptop), nothing is installed and the browser tests skip, saying why.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Chromium from Debian's packages for the browser tests ..." >&2
    chromium_log="$(mktemp -t glassbox-chromium.XXXXXX)"
    if DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$chromium_log" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >>"$chromium_log" 2>&1; then
      rm -f "$chromium_log"
    else
      echo "Installing Chromium failed (see $chromium_log); the browser tests will skip." >&2
    fi
  else
    echo "No /usr/bin/chromium, and no root apt-get to install it: the browser tests will skip." >&2
  fi
fi
