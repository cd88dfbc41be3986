# Sourced by scripts/test and scripts/demo: Debian's Java for `glassbox batch --engine spark`
# (Spark runs in a JVM), installed from the distribution's packages -- nothing is downloaded
# by Spark itself. Without root and apt-get (a laptop), nothing is installed and the Spark tests
# skip, saying why.
if ! command -v java >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Java from Debian's packages for the Spark batch engine ..." >&2
    java_log="$(mktemp -t glassbox-java.XXXXXX)"
    if DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$java_log" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >>"$java_log" 2>&1; then
      rm -f "$java_log"
    else
      echo "Installing Java failed (see $java_log); the Spark tests will skip." >&2
    fi
  else
    echo "No java, and no root apt-get to install it: the Spark tests will skip." >&2
  fi
fi
