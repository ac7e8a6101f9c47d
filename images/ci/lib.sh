# Shared by images/ci/build and images/ci/hadoop/build (sourced, not run).
# An image is up to date when it exists and its label $CI_LABEL equals the hash of its inputs
# (every file of its folder, the base image's id, and any extra inputs such as Hadoop's jars).

CI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CI_REPO=$(cd "$CI_DIR/../.." && pwd)
CI_LABEL=org.wattswarm.ci.inputs
CI_BASE_IMAGE=debian:bookworm-slim   # every Dockerfile here says FROM it
# Docker CLI 28 without buildx: the legacy builder.
export DOCKER_BUILDKIT=0

ci_say() { echo "images/ci: $*"; }
ci_die() { echo "images/ci: error: $*" >&2; exit 1; }

# sha256 of every file under DIR (but .context/), with paths relative to DIR, sorted.
ci_dir_digest() {
  (cd "$1" && find . -path ./.context -prune -o \( -type f -o -type l \) -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}

# ci_inputs_hash DIR [EXTRA_TEXT]: the hash an up-to-date image of DIR carries in its label.
ci_inputs_hash() {
  local base_id
  base_id=$(docker image inspect -f '{{.Id}}' "$CI_BASE_IMAGE" 2>/dev/null) \
    || ci_die "base image $CI_BASE_IMAGE missing (run images/ci/base/build-base)"
  { echo "base $base_id"; ci_dir_digest "$1"; printf '%s\n' "${2:-}"; } | sha256sum | cut -c1-32
}

# ci_up_to_date TAG HASH: true when TAG exists and carries HASH.
ci_up_to_date() {
  local have
  have=$(docker image inspect -f "{{index .Config.Labels \"$CI_LABEL\"}}" "$1" 2>/dev/null) || return 1
  [ "$have" = "$2" ]
}

# ci_build TAG CONTEXT HASH: docker build CONTEXT (its Dockerfile) as TAG, labelled with HASH.
# Shows the build's steps; the whole log is kept and its tail shown when the build fails.
ci_build() {
  local tag=$1 ctx=$2 hash=$3 old log start rc
  old=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
  log=$(mktemp "${TMPDIR:-/tmp}/ci-build.XXXXXX")
  start=$SECONDS
  ci_say "building $tag from ${ctx#"$CI_REPO/"} (log: $log)"
  set +e
  docker build --rm --force-rm --label "$CI_LABEL=$hash" -t "$tag" "$ctx" 2>&1 | tee "$log" \
    | grep --line-buffered -E '^Step [0-9]+/[0-9]+ : ' | sed -u 's/^/    /' | cut -c1-150
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -ne 0 ]; then
    echo "---- last lines of $log ----" >&2
    tail -n 40 "$log" >&2
    ci_die "docker build of $tag failed (exit $rc); full log: $log"
  fi
  rm -f "$log"
  ci_say "built $tag in $((SECONDS - start))s ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
  # The image this replaced, now untagged: ours (it carries our label), so remove it.
  if [ -n "$old" ] && [ "$old" != "$(docker image inspect -f '{{.Id}}' "$tag")" ] \
    && [ -n "$(docker image inspect -f "{{index .Config.Labels \"$CI_LABEL\"}}" "$old" 2>/dev/null)" ] \
    && [ "$(docker image inspect -f '{{len .RepoTags}}' "$old" 2>/dev/null)" = 0 ]; then
    docker image rm "$old" >/dev/null 2>&1 && ci_say "removed the previous $tag (${old:7:12})" || true
  fi
}

# ci_build_cas DIR: puts into DIR/.context/ca/ the extra CA certificates a build needs to reach
# PyPI through a TLS-intercepting proxy (CI_EXTRA_CA_CERTS: files, space-separated; default the
# host's own additions, /usr/local/share/ca-certificates/*.crt). Used only while building (pip
# --cert), never added to the image's trust store. Prints their digest, for the inputs hash.
ci_build_cas() {
  local ca=$1/.context/ca f
  rm -rf "$ca"
  mkdir -p "$ca"
  echo "Extra CA certificates for the build only (images/ci/lib.sh: ci_build_cas)." > "$ca/README"
  # shellcheck disable=SC2086
  for f in ${CI_EXTRA_CA_CERTS:-/usr/local/share/ca-certificates/*.crt}; do
    [ -f "$f" ] || continue
    cp "$f" "$ca/$(basename "$f" .crt).crt"
  done
  (cd "$ca" && find . -name '*.crt' -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}
