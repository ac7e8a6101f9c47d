# Sourced by scripts/setup and scripts/test (and bench/stores, bench/parser-instructions):
# where cargo's target dir and the tests' tools live, each default stated here once, and
# exported for the tests to read. Set a variable beforehand to put that one elsewhere.
#   CARGO_TARGET_DIR    outside the clone, so that later runs on the same machine reuse it
#   ANCHORS_VENV        the Python environment: pyarrow, DuckDB, Polars, pymongo, SecantusDB,
#                       nbclient, ipykernel, Matplotlib (tests/readers.rs, tests/mongo.rs,
#                       tests/notebooks.rs, the benchmark's anchors)
#   MONGOSH_DIR         npm's prefix for mongosh; MONGOSH: its binary (tests/mongo.rs)
#   FERRETDB_DIR        where FerretDB is built; FERRETDB: its binary (tests/mongo.rs)
#   SEAWEEDFS_DIR       where SeaweedFS is built; WEED: its binary, the S3-compatible test
#                       server that scripts/s3server runs
#   GRAFANA_SCHEMA_DIR  npm's prefix for tsc and Grafana's schema types (tests/monitoring.rs)
# shellcheck shell=bash
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/wattswarm-target}
export ANCHORS_VENV=${ANCHORS_VENV:-$HOME/.cache/wattswarm-anchors}
export MONGOSH_DIR=${MONGOSH_DIR:-$HOME/.cache/wattswarm-mongosh}
export MONGOSH=$MONGOSH_DIR/node_modules/.bin/mongosh
export FERRETDB_DIR=${FERRETDB_DIR:-$HOME/.cache/wattswarm-ferretdb}
export FERRETDB=$FERRETDB_DIR/ferretdb
export SEAWEEDFS_DIR=${SEAWEEDFS_DIR:-$HOME/.cache/wattswarm-seaweedfs}
export WEED=$SEAWEEDFS_DIR/weed
export GRAFANA_SCHEMA_DIR=${GRAFANA_SCHEMA_DIR:-$HOME/.cache/wattswarm-grafana-schema}

# The mode both scripts take, `all` when none is given; prints it, or the usage of the
# script named by $2 (and fails) for anything else.
ws_mode() {
  case ${1:-all} in
    unit|e2e|stack|all) echo "${1:-all}" ;;
    *) echo "usage: $2 [unit|e2e|stack|all]" >&2; return 2 ;;
  esac
}
