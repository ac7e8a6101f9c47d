#!/usr/bin/env bash
# Hadoop configuration from the environment, like the official apache/hadoop images' envtoconf.py:
# a variable NAME.EXT_KEY=VALUE (NAME and EXT split at the first two `_` or `.`, case-folded;
# EXT one of xml properties env sh cfg conf; NAME.EXT!FMT_KEY picks the format) becomes the
# property KEY=VALUE of the file NAME.EXT in the destination, e.g.
#   CORE-SITE.XML_fs.defaultFS=hdfs://namenode  ->  core-site.xml: fs.defaultFS = hdfs://namenode
#   HDFS-SITE.XML_dfs.replication=1             ->  hdfs-site.xml: dfs.replication = 1
#   LOG4J.PROPERTIES_log4j.rootLogger=INFO,stdout -> log4j.properties
# Unlike the original, the image's defaults (/opt/hadoop/etc/defaults/NAME.EXT.raw, lines
# "key: value") are kept and the environment's properties override them, so a file is never
# left with only what the environment gave.
#   envtoconf.sh [--destination DIR]   (default: $HADOOP_CONF_DIR, else /opt/hadoop/etc/hadoop)
set -euo pipefail
dest=${HADOOP_CONF_DIR:-/opt/hadoop/etc/hadoop}
defaults=${ENVTOCONF_DEFAULTS:-/opt/hadoop/etc/defaults}
case ${1:-} in
  --destination) dest=$2 ;;
  --destination=*) dest=${1#*=} ;;
  "") ;;
  *) echo "usage: envtoconf.sh [--destination DIR]" >&2; exit 2 ;;
esac
mkdir -p "$dest"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# $work/NAME.EXT: "key<TAB>value" lines, defaults first; $work/NAME.EXT.fmt: its format.
declare -A fmt=()

trim() { local s=$1; s=${s#"${s%%[![:space:]]*}"}; s=${s%"${s##*[![:space:]]}"}; printf '%s' "$s"; }

add() {   # add FILE FORMAT KEY VALUE
  fmt[$1]=$2
  printf '%s\t%s\n' "$3" "${4//$'\n'/ }" >> "$work/$1"
}

if [ -d "$defaults" ]; then
  for raw in "$defaults"/*.raw; do
    [ -e "$raw" ] || continue
    file=$(basename "$raw" .raw)
    fmt[$file]=${file##*.}
    : >> "$work/$file"
    while IFS= read -r line || [ -n "$line" ]; do
      line=$(trim "$line")
      [ -n "$line" ] && [ "${line:0:1}" != '#' ] || continue
      k=$(trim "${line%%: *}")
      if [[ $line == *': '* ]]; then v=$(trim "${line#*: }"); else v=; fi
      add "$file" "${fmt[$file]}" "$k" "$v"
    done < "$raw"
  done
fi

while IFS= read -r -d '' kv; do
  key=${kv%%=*} val=${kv#*=}
  [ "$key" != HADOOP_CONF_DIR ] || continue
  name=${key%%[_.]*}
  [ "$name" != "$key" ] || continue
  rest=${key:${#name}+1}
  ext=${rest%%[_.]*}
  [ "$ext" != "$rest" ] || continue
  ckey=$(trim "${rest:${#ext}+1}")
  name=${name,,} ext=${ext,,}
  f=$ext
  if [[ $ext == *'!'* ]]; then f=${ext#*!} ext=${ext%%!*}; fi
  case $f in
    xml|properties|env|sh|cfg|conf) ;;
    yaml|yml) echo "envtoconf: $key: yaml is not supported by this image, ignored" >&2; continue ;;
    *) continue ;;
  esac
  [ -n "$ckey" ] || continue
  val=$(trim "$val"); val=${val#\"}; val=${val%\"}
  add "$name.$ext" "$f" "$ckey" "$val"
done < <(env -0)

for file in "${!fmt[@]}"; do
  # The last value of a key wins; keys keep the place they first had.
  awk -F '\t' -v fmt="${fmt[$file]}" '
    function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }
    { k = $1; v = substr($0, length($1) + 2); if (!(k in val)) order[++n] = k; val[k] = v }
    END {
      if (fmt == "xml") print "<?xml version=\"1.0\"?>\n<configuration>"
      for (i = 1; i <= n; i++) {
        k = order[i]; v = val[k]
        if (fmt == "xml") printf "  <property><name>%s</name><value>%s</value></property>\n", esc(k), esc(v)
        else if (fmt == "properties") printf "%s: %s\n", k, v
        else if (fmt == "sh") printf "export %s=\"%s\"\n", k, v
        else if (fmt == "conf") printf "export %s=%s\n", k, v
        else printf "%s=%s\n", k, v
      }
      if (fmt == "xml") print "</configuration>"
    }' "$work/$file" > "$work/$file.out"
  cat "$work/$file.out" > "$dest/$file"
done
