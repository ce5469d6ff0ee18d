# Sourced by hack/dist.sh and hack/krew-e2e.sh: renders krew/feastflow.yaml, a
# krew-release-bot template, the way the bot does for a release.

# render_manifest TEMPLATE TAG CHECKSUMS [DOWNLOAD_BASE [DROP_MISSING]]
# Replaces {{ .TagName }} with TAG and each `{{addURIAndSha "URI" .TagName}}` line with the uri
# and the archive's sha256 from CHECKSUMS (goreleaser's checksums.txt). With DOWNLOAD_BASE the
# GitHub release prefix https://github.com/feastflow/kubectl-feastflow is replaced by it (the
# path below it, releases/download/TAG/ARCHIVE, stays). With DROP_MISSING=1 a platform whose
# archive is not in CHECKSUMS is left out (a snapshot built for one platform); otherwise it is
# an error. Prints the manifest on stdout; returns 1 with a message on stderr on failure.
render_manifest() {
  local template=$1 tag=$2 sums=$3 base=${4:-} drop=${5:-0}
  local line uri file sum ind out github=https://github.com/feastflow/kubectl-feastflow
  out=$(
    while IFS= read -r line || [ -n "$line" ]; do
      line=${line//'{{ .TagName }}'/$tag}
      if [[ $line =~ ^([[:space:]]*)\{\{[[:space:]]*addURIAndSha[[:space:]]+\"([^\"]+)\"[^}]*\}\}[[:space:]]*$ ]]; then
        ind=${BASH_REMATCH[1]} uri=${BASH_REMATCH[2]}
        file=${uri##*/}
        [ -n "$base" ] && uri=${uri/#"$github"/$base}
        sum=$(awk -v f="$file" '$2 == f { print $1 }' "$sums")
        if [ -z "$sum" ]; then
          [ "$drop" = 1 ] || { echo "render: the template names $file, which $sums does not list" >&2; exit 1; }
          sum=MISSING-ARCHIVE
        fi
        printf '%suri: %s\n%ssha256: %s\n' "$ind" "$uri" "$ind" "$sum"
      else
        printf '%s\n' "$line"
      fi
    done <"$template"
  ) || return 1
  # Leave out each platform (a "  - selector:" block under spec.platforms) whose archive is
  # missing; every other line passes through unchanged.
  printf '%s\n' "$out" | awk '
    function flush() { if (!drop) printf "%s", buf; buf = ""; drop = 0 }
    /^  - selector:/ || /^[^ ]/ { flush() }
    { buf = buf $0 "\n"; if ($0 ~ /MISSING-ARCHIVE/) drop = 1 }
    END { flush() }'
}
