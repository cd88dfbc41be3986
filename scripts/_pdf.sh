# Sourced by scripts/test: the system libraries WeasyPrint lays the periodic report's PDF out
# with (Pango, HarfBuzz, fontconfig and a font), from Debian's packages. Without root and
# apt-get (a laptop), nothing is installed and `glassbox report` says what is missing.
if ! ldconfig -p 2>/dev/null | grep -q "libpangoft2-1.0.so.0"; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Pango from Debian's packages for the report's PDF ..." >&2
    pdf_log="$(mktemp -t glassbox-pango.XXXXXX)"
    if DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$pdf_log" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 \
        libharfbuzz-subset0 fonts-dejavu-core >>"$pdf_log" 2>&1; then
      rm -f "$pdf_log"
    else
      echo "Installing Pango failed (see $pdf_log); the report's PDF cannot be written." >&2
    fi
  else
    echo "No Pango, and no root apt-get to install it: the report's PDF cannot be written." >&2
  fi
fi
