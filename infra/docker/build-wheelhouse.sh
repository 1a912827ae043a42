#!/usr/bin/env bash
# Build the wheelhouse for an air-gapped install, on a connected Linux x86_64 machine with Python 3.11 and uv.
# Usage: infra/docker/build-wheelhouse.sh OUT_DIR      (run from the repository root)
# OUT_DIR then holds requirements.txt (the lock file's versions), requirements-jvm.txt (full pyspark, for the
# JVM Spark Connect image only), one wheel per package (source-only packages are built into wheels here),
# radlake's own wheel, and SHA256SUMS. Install from it (docs/DEPLOY.md, section 2):
#   pip install --no-index --find-links OUT_DIR -r OUT_DIR/requirements.txt
#   pip install --no-index --find-links OUT_DIR --no-deps radlake==<version>
set -euo pipefail

OUT="${1:?usage: build-wheelhouse.sh OUT_DIR}"
PYTHON="${PYTHON:-python3.11}"
UV="${UV:-uv}"
mkdir -p "$OUT"

# The exact versions of uv.lock with the production extra (Dagster's PostgreSQL storage), without the dev
# tools and without radlake itself.
"$UV" export --frozen --no-dev --extra deploy --no-emit-project --no-hashes -o "$OUT/requirements.txt"

# The JVM Spark Connect image needs Spark's jars, i.e. the full pyspark (the runtime has the client only).
"$UV" export --frozen --only-group jvm --no-emit-project --no-hashes -o "$OUT/requirements-jvm.txt"

# Wheels for all of them; source-only packages are built into wheels now, so the site needs no compiler.
"$PYTHON" -m pip wheel --wheel-dir "$OUT" -r "$OUT/requirements.txt" -r "$OUT/requirements-jvm.txt"
# radlake itself as a wheel (with its dbt project): installed as it is, not editable, so nothing is built at
# the site (an editable install would need build tools the wheelhouse does not carry).
"$UV" build --wheel --out-dir "$OUT"

(cd "$OUT" && sha256sum -- *.whl requirements.txt requirements-jvm.txt > SHA256SUMS)
echo "wheelhouse ready: $(ls "$OUT"/*.whl | wc -l) wheels in $OUT (check on arrival: sha256sum -c SHA256SUMS)"
