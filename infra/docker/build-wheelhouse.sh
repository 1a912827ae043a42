#!/usr/bin/env bash
# Build the wheelhouse for an air-gapped install, on a connected Linux x86_64 machine with Python 3.11 and uv.
# Usage: infra/docker/build-wheelhouse.sh OUT_DIR      (run from the repository root)
# OUT_DIR then holds requirements.txt (the lock file's versions), one wheel per package (pyspark, published
# only as a source archive, is built into a wheel here), hatchling to build radlake itself, and SHA256SUMS.
# Install from it with: pip install --no-index --find-links OUT_DIR -r OUT_DIR/requirements.txt
set -euo pipefail

OUT="${1:?usage: build-wheelhouse.sh OUT_DIR}"
PYTHON="${PYTHON:-python3.11}"
UV="${UV:-uv}"
mkdir -p "$OUT"

# The exact versions of uv.lock with the production extra (Dagster's PostgreSQL storage), without the dev
# tools and without radlake itself.
"$UV" export --frozen --no-dev --extra deploy --no-emit-project --no-hashes -o "$OUT/requirements.txt"

# Wheels for all of them; source-only packages are built into wheels now, so the site needs no compiler.
"$PYTHON" -m pip wheel --wheel-dir "$OUT" -r "$OUT/requirements.txt"
# The build backend for `pip install -e .` of radlake.
"$PYTHON" -m pip download --dest "$OUT" --only-binary=:all: hatchling

(cd "$OUT" && sha256sum -- *.whl requirements.txt > SHA256SUMS)
echo "wheelhouse ready: $(ls "$OUT"/*.whl | wc -l) wheels in $OUT (check on arrival: sha256sum -c SHA256SUMS)"
