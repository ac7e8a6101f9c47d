#!/usr/bin/env bash
# Entrypoint of the CI stand-in for the official mongo:7 image, after its docker-entrypoint.sh:
# - `docker run IMAGE --opt...` runs `mongod --opt...`; any other command is run as given.
# - As root, makes the data folders the mongodb user's and drops to it (setpriv, like gosu).
# - MONGO_INITDB_ROOT_USERNAME + MONGO_INITDB_ROOT_PASSWORD (or their _FILE variants, a file
#   holding the value, e.g. /run/secrets/x): on a new database (no $dbpath/WiredTiger), starts
#   the server on 127.0.0.1 only, creates that user in `admin` with role root, runs
#   /docker-entrypoint-initdb.d/*.sh (sourced unless executable; *.js needs mongosh, which this
#   image has not: an error), stops it, then starts the real server. With the credentials set,
#   the server always requires authentication (--auth), on later starts too; without them, not.
# - The server listens on 0.0.0.0:27017 (--bind_ip_all unless --bind_ip is given), logs to
#   stdout and stops cleanly on SIGTERM.
set -Eeuo pipefail

say() { echo "docker-entrypoint: $*"; }

[ $# -gt 0 ] || set -- mongod
if [ "${1:0:1}" = '-' ]; then
  set -- mongod "$@"
fi

# file_env VAR: VAR from $VAR or from the file named by $VAR_FILE (not both).
file_env() {
  local var=$1 file_var="${1}_FILE"
  local val=${!var:-} file=${!file_var:-}
  if [ -n "$val" ] && [ -n "$file" ]; then
    echo >&2 "error: both $var and $file_var are set (but are exclusive)"
    exit 1
  fi
  if [ -n "$file" ]; then
    [ -r "$file" ] || { echo >&2 "error: $file_var=$file: cannot read that file"; exit 1; }
    val=$(< "$file")
  fi
  export "$var"="$val"
  unset "$file_var"
}

if [ "$1" = mongod ]; then
  # Read the secrets while still root (a bind-mounted secret may be readable by root only).
  file_env MONGO_INITDB_ROOT_USERNAME
  file_env MONGO_INITDB_ROOT_PASSWORD
  if [ "$(id -u)" = 0 ]; then
    for d in /data/db /data/configdb; do
      [ -d "$d" ] && find "$d" \! -user mongodb -exec chown mongodb: '{}' +
    done
    HOME=/data/db exec setpriv --reuid=mongodb --regid=mongodb --init-groups "$BASH_SOURCE" "$@"
  fi
fi

if [ "$1" = mongod ]; then
  user=$MONGO_INITDB_ROOT_USERNAME pass=$MONGO_INITDB_ROOT_PASSWORD
  if { [ -n "$user" ] && [ -z "$pass" ]; } || { [ -z "$user" ] && [ -n "$pass" ]; }; then
    cat >&2 <<'MSG'
error: missing 'MONGO_INITDB_ROOT_USERNAME' or 'MONGO_INITDB_ROOT_PASSWORD'
       both must be specified for a user to be created
MSG
    exit 1
  fi

  # What the arguments say about the data folder and the listening address.
  dbpath=/data/db bind_given=
  prev=
  for a in "$@"; do
    case $prev in --dbpath) dbpath=$a ;; esac
    case $a in
      --dbpath=*) dbpath=${a#*=} ;;
      --bind_ip|--bind_ip=*|--bind_ip_all) bind_given=1 ;;
    esac
    prev=$a
  done

  init=
  if [ -n "$user" ] || compgen -G '/docker-entrypoint-initdb.d/*' >/dev/null; then init=1; fi
  [ -e "$dbpath/WiredTiger" ] && init=

  if [ -n "$init" ]; then
    say "new database in $dbpath: initialising"
    # The first server: loopback only, no auth (the official image does the same).
    tmp_args=()
    prev=
    for a in "${@:2}"; do   # the user's options, minus addresses and --auth
      case $a in
        --bind_ip=*|--bind_ip_all|--port=*|--auth) ;;
        --bind_ip|--port) ;;
        *) case $prev in --bind_ip|--port) ;; *) tmp_args+=("$a") ;; esac ;;
      esac
      prev=$a
    done
    mongod "${tmp_args[@]}" --bind_ip 127.0.0.1 --port 27017 &
    pid=$!
    py=/opt/secantus/venv/bin/python
    if ! "$py" - <<'PY'
import sys, time
import pymongo
deadline = time.monotonic() + 60
while True:
    try:
        pymongo.MongoClient("mongodb://127.0.0.1:27017/", serverSelectionTimeoutMS=1000,
                            directConnection=True).admin.command("ping")
        break
    except Exception as e:  # noqa: BLE001
        if time.monotonic() > deadline:
            sys.exit(f"the first server did not answer in 60 s: {e}")
        time.sleep(0.3)
PY
    then
      kill "$pid" 2>/dev/null || true
      echo >&2 "error: could not start the server to initialise the database"
      exit 1
    fi
    if [ -n "$user" ]; then
      say "creating user \"$user\" in admin (role root)"
      "$py" - <<'PY'
import os
import pymongo
c = pymongo.MongoClient("mongodb://127.0.0.1:27017/", directConnection=True)
c.admin.command("createUser", os.environ["MONGO_INITDB_ROOT_USERNAME"],
                pwd=os.environ["MONGO_INITDB_ROOT_PASSWORD"],
                roles=[{"role": "root", "db": "admin"}],
                mechanisms=["SCRAM-SHA-1", "SCRAM-SHA-256"])
PY
    fi
    export MONGO_INITDB_DATABASE=${MONGO_INITDB_DATABASE:-test}
    for f in /docker-entrypoint-initdb.d/*; do
      [ -e "$f" ] || continue
      case $f in
        *.sh)
          if [ -x "$f" ]; then say "running $f"; "$f"
          else say "sourcing $f"; . "$f"; fi ;;
        *.js|*.js.gz)
          kill "$pid"; wait "$pid" || true
          echo >&2 "error: $f: .js init scripts need mongosh, which this stand-in has not; use a .sh (pymongo: /opt/secantus/venv/bin/python)"
          exit 1 ;;
        *) say "ignoring $f" ;;
      esac
    done
    kill "$pid"
    wait "$pid" || true
    say "MongoDB init process complete; ready for start up."
  fi

  if [ -n "$user" ]; then
    set -- "$@" --auth
  fi
  [ -n "$bind_given" ] || set -- "$@" --bind_ip_all
  unset MONGO_INITDB_ROOT_USERNAME MONGO_INITDB_ROOT_PASSWORD MONGO_INITDB_DATABASE
fi

exec "$@"
