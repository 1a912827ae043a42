#!/usr/bin/env bash
# Start a Spark Connect server with Delta Lake for radlake (`spark: sc://<host>:15002` in radlake.yaml).
#
# Spark comes from the pyspark wheel of radlake's lock file (its jars include the Connect server); Java 17 must
# be installed. delta-spark and hadoop-aws come from one of:
#   online      Maven Central, through spark-submit --packages (default when DELTA_JARS_DIR has no jars);
#   air-gapped  a local folder of jars (DELTA_JARS_DIR, default /opt/delta-jars), filled once on a connected
#               machine with `start-connect-server.sh --fetch-jars DIR` and carried over.
#
# Usage: start-connect-server.sh [--dry-run] [--fetch-jars DIR] [extra spark-submit arguments...]
# Environment:
#   SPARK_MASTER      where executors run: local[*] (default), spark://host:7077, k8s://https://...
#   SPARK_CONNECT_PORT  gRPC port (default 15002)
#   DELTA_VERSION     delta-spark version for Spark 4.2 / Scala 2.13 (default 4.4.1)
#   DELTA_JARS_DIR    local jar folder for air-gapped sites (default /opt/delta-jars)
#   EXTRA_JARS_DIR    more jars to put on the classpath (optional)
#   AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: the lake's object store, as for
#                     the rest of radlake (MinIO: AWS_ENDPOINT_URL=http://minio:9000).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-$(command -v python3 || command -v python)}"
DELTA_VERSION="${DELTA_VERSION:-4.4.1}"
DELTA_JARS_DIR="${DELTA_JARS_DIR:-/opt/delta-jars}"
SPARK_CONNECT_PORT="${SPARK_CONNECT_PORT:-15002}"
SPARK_MASTER="${SPARK_MASTER:-local[*]}"
DRY_RUN=0
FETCH_DIR=""

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1; shift ;;
    --fetch-jars) FETCH_DIR="${2:?--fetch-jars needs a folder}"; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done

if [ -z "${SPARK_HOME:-}" ]; then
  SPARK_HOME="$("$PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
fi
export SPARK_HOME
# Python UDF workers run the interpreter that has radlake installed (transforms are pickled by reference).
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$PYTHON}"

hadoop_api="$(ls "$SPARK_HOME"/jars/hadoop-client-api-*.jar 2>/dev/null | head -n 1 || true)"
HADOOP_VERSION="${HADOOP_VERSION:-$(basename "${hadoop_api:-hadoop-client-api-3.5.0.jar}" .jar | sed 's/^hadoop-client-api-//')}"
PACKAGES="io.delta:delta-spark_2.13:${DELTA_VERSION},org.apache.hadoop:hadoop-aws:${HADOOP_VERSION}"
if [ -n "${DELTA_DYNAMO_TABLE_NAME:-}" ]; then
  # Multi-writer commits on S3 through a DynamoDB lock table, shared with radlake's delta-rs writers.
  PACKAGES="${PACKAGES},io.delta:delta-storage-s3-dynamodb:${DELTA_VERSION}"
fi

if [ -n "$FETCH_DIR" ]; then
  # Resolve the packages (and their dependencies) from Maven into FETCH_DIR, for an air-gapped site.
  mkdir -p "$FETCH_DIR"
  ivy="$(mktemp -d)"
  noop="$ivy/noop.py"
  echo "pass" > "$noop"
  "$SPARK_HOME/bin/spark-submit" --master 'local[1]' --packages "$PACKAGES" --conf "spark.jars.ivy=$ivy" "$noop"
  cp "$ivy"/jars/*.jar "$FETCH_DIR"/
  rm -rf "$ivy"
  # Checked on arrival at the site: (cd DIR && sha256sum -c SHA256SUMS).
  (cd "$FETCH_DIR" && sha256sum -- *.jar > SHA256SUMS)
  echo "jars for delta-spark ${DELTA_VERSION} and hadoop-aws ${HADOOP_VERSION} are in $FETCH_DIR (with SHA256SUMS)"
  exit 0
fi

args=(
  --class org.apache.spark.sql.connect.service.SparkConnectServer
  --name "radlake Spark Connect"
  --master "$SPARK_MASTER"
  --properties-file "$HERE/spark-defaults.conf"
  --conf "spark.connect.grpc.binding.port=${SPARK_CONNECT_PORT}"
)

shopt -s nullglob
local_jars=("$DELTA_JARS_DIR"/*.jar)
extra_jars=()
if [ -n "${EXTRA_JARS_DIR:-}" ]; then extra_jars=("$EXTRA_JARS_DIR"/*.jar); fi
shopt -u nullglob
if [ ${#local_jars[@]} -gt 0 ]; then
  all=("${local_jars[@]}" "${extra_jars[@]}")
  args+=(--jars "$(IFS=,; echo "${all[*]}")")
  echo "radlake: delta-spark from ${DELTA_JARS_DIR} (${#local_jars[@]} jars, air-gapped)" >&2
else
  args+=(--packages "$PACKAGES")
  if [ ${#extra_jars[@]} -gt 0 ]; then args+=(--jars "$(IFS=,; echo "${extra_jars[*]}")"); fi
  echo "radlake: delta-spark ${DELTA_VERSION} from Maven (--packages)" >&2
fi

# The object store of the lake, from the same environment variables radlake's Python side reads.
if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
  args+=(--conf "spark.hadoop.fs.s3a.endpoint=${AWS_ENDPOINT_URL}")
  args+=(--conf "spark.hadoop.fs.s3a.path.style.access=true")
  case "$AWS_ENDPOINT_URL" in
    http://*) args+=(--conf "spark.hadoop.fs.s3a.connection.ssl.enabled=false") ;;
  esac
fi
if [ -n "${AWS_REGION:-}" ]; then
  args+=(--conf "spark.hadoop.fs.s3a.endpoint.region=${AWS_REGION}")
fi
if [ -n "${DELTA_DYNAMO_TABLE_NAME:-}" ]; then
  for scheme in s3 s3a; do
    args+=(--conf "spark.delta.logStore.${scheme}.impl=io.delta.storage.S3DynamoDBLogStore")
  done
  args+=(--conf "spark.io.delta.storage.S3DynamoDBLogStore.ddb.tableName=${DELTA_DYNAMO_TABLE_NAME}")
  if [ -n "${AWS_REGION:-}" ]; then
    args+=(--conf "spark.io.delta.storage.S3DynamoDBLogStore.ddb.region=${AWS_REGION}")
  fi
fi

cmd=("$SPARK_HOME/bin/spark-submit" "${args[@]}" "$@")
if [ "$DRY_RUN" = 1 ]; then
  printf '%q ' "${cmd[@]}"
  echo
  exit 0
fi
exec "${cmd[@]}"
