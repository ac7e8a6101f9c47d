#!/usr/bin/env bash
# Entrypoint of the CI stand-in for apache/hadoop:3 (after its /opt/starter.sh), under dumb-init:
# - writes $HADOOP_CONF_DIR's files from the environment (/opt/envtoconf.sh: CORE-SITE.XML_k=v...);
# - SLEEP_SECONDS: waits that long; WAITFOR=host:port: waits (WAITFOR_TIMEOUT s, 300) for it;
# - ENSURE_NAMENODE_DIR=DIR: formats the NameNode (hdfs namenode -format -force
#   [-clusterid $ENSURE_NAMENODE_CLUSTERID]) when DIR does not exist yet;
#   ENSURE_STANDBY_NAMENODE_DIR=DIR: hdfs namenode -bootstrapStandby when DIR does not exist;
# - then runs the command (e.g. hdfs namenode, hdfs datanode, hdfs dfs -ls /).
set -euo pipefail

/opt/envtoconf.sh --destination "${HADOOP_CONF_DIR:-/opt/hadoop/etc/hadoop}"

if [ -n "${SLEEP_SECONDS:-}" ]; then
  echo "Sleeping for $SLEEP_SECONDS seconds"
  sleep "$SLEEP_SECONDS"
fi

if [ -n "${WAITFOR:-}" ]; then
  echo "Waiting for the service $WAITFOR"
  host=${WAITFOR%%:*} port=${WAITFOR##*:}
  left=${WAITFOR_TIMEOUT:-300}
  until (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
    if [ "$left" -le 0 ]; then
      echo "Waiting for service $WAITFOR is timed out." >&2
      exit 1
    fi
    left=$((left - 1))
    sleep 1
  done
fi

if [ -n "${ENSURE_NAMENODE_DIR:-}" ] && [ ! -d "$ENSURE_NAMENODE_DIR" ]; then
  clusterid=()
  [ -z "${ENSURE_NAMENODE_CLUSTERID:-}" ] || clusterid=(-clusterid "$ENSURE_NAMENODE_CLUSTERID")
  /opt/hadoop/bin/hdfs namenode -format -force "${clusterid[@]}"
fi

if [ -n "${ENSURE_STANDBY_NAMENODE_DIR:-}" ] && [ ! -d "$ENSURE_STANDBY_NAMENODE_DIR" ]; then
  /opt/hadoop/bin/hdfs namenode -bootstrapStandby
fi

if [ $# -eq 0 ]; then
  echo "starter.sh: no command given (e.g. hdfs namenode, hdfs datanode, hdfs dfs -ls /)" >&2
  exit 0
fi
exec "$@"
