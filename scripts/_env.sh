# Sourced by the other scripts: builds the project environment from uv.lock on first use.
# Needs only Python 3.11 and the package registries; nothing is installed outside the checkout.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

py="${PYTHON:-}"
if [ -z "$py" ]; then
  if command -v python3.11 >/dev/null 2>&1; then py=python3.11; else py=python3; fi
fi
if ! "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "glassbox needs Python 3.11 (found: $("$py" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

export UV_PYTHON_DOWNLOADS=never
export UV_PROJECT_ENVIRONMENT="$root/.venv"
if [ ! -x .tools/bin/uv ]; then
  echo "Setting up the installer in .tools/ ..." >&2
  "$py" -m venv .tools
  .tools/bin/pip install --quiet --disable-pip-version-check -r scripts/uv-requirements.txt
fi
.tools/bin/uv sync --frozen --quiet --python "$py"

# scikit-learn's OpenMP threads oversubscribe two cores and slow single-row calls down.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export PATH="$root/.venv/bin:$PATH"
