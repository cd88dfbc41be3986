# Sourced by scripts/test: axe-core for the accessibility checks of the pages (tests/api/web),
# installed from npm at the version package-lock.json pins, into node_modules/ of this checkout.
# The tests serve it to the pages themselves; nothing is fetched while they run. Without npm
# (and without root apt-get to install Debian's), nothing is installed and those checks skip.
axe_file="node_modules/axe-core/axe.min.js"
if [ ! -f "$axe_file" ]; then
  if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing npm from Debian's packages for the accessibility checks ..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null 2>&1 ||
      echo "Installing npm failed; the accessibility checks will skip." >&2
  fi
  if command -v npm >/dev/null 2>&1; then
    echo "Installing axe-core from npm (package-lock.json) for the accessibility checks ..." >&2
    npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2 ||
      echo "npm ci failed; the accessibility checks will skip." >&2
  else
    echo "No npm: the accessibility checks will skip." >&2
  fi
fi
