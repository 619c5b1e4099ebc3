#!/usr/bin/env bash
# The opt-in Spark test's own Python (make test-spark): pyspark (~450 MB) in a
# venv cached outside the checkout; Java 17+ from Debian (openjdk-17-jre-headless).
set -euo pipefail
VENV=${SCOPE_SPARK_VENV:-/var/cache/scope-spark/venv}
if ! command -v java > /dev/null; then
  echo "[spark] no java: apt-get install openjdk-17-jre-headless" >&2; exit 1
fi
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import pyspark" 2> /dev/null; then
  echo "[spark] pyspark present ($VENV)"; exit 0
fi
echo "[spark] installing pyspark into $VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q pyspark pyarrow
