#!/usr/bin/env bash
# Installs mlsec for the GitHub Action (action.yml): the release binary for this runner,
# checked against the release's SHA256SUMS and, when `gh` is there, its build provenance
# attestation. Only when the release has no binary for this runner is mlsec compiled from the
# action's own source. A checksum or attestation that does not match is a hard failure, never
# a reason to fall back.
#
# Environment:
#   MLSEC_INSTALL_DIR          where to install (bin/mlsec)                           [required]
#   MLSEC_VERSION              a release tag (v0.2.0) or "latest"; empty: the action's own ref
#                              when it is a version tag, else latest
#   MLSEC_REPO                 owner/name of the releases                             [mlsec/mlsec]
#   MLSEC_RELEASE_BASE_URL     releases URL (a file:// URL in tests)   [https://github.com/$MLSEC_REPO/releases]
#   MLSEC_VERIFY_ATTESTATION   true: require `gh attestation verify` to pass            [true]
#   MLSEC_NO_FALLBACK          1: fail instead of compiling when there is no binary
#   ACTION_REF, ACTION_PATH    set by action.yml; RUNNER_OS, RUNNER_ARCH by GitHub
set -euo pipefail
dest=${MLSEC_INSTALL_DIR:?MLSEC_INSTALL_DIR is required}
repo=${MLSEC_REPO:-mlsec/mlsec}
base=${MLSEC_RELEASE_BASE_URL:-https://github.com/$repo/releases}
version=${MLSEC_VERSION:-}
if [ -z "$version" ]; then
  case "${ACTION_REF:-}" in v[0-9]*) version=$ACTION_REF ;; *) version=latest ;; esac
fi
case "${RUNNER_OS:-$(uname -s)}/${RUNNER_ARCH:-$(uname -m)}" in
  Linux/X64 | Linux/x86_64) target=x86_64-unknown-linux-musl ;;
  Linux/ARM64 | Linux/aarch64) target=aarch64-unknown-linux-musl ;;
  macOS/X64 | Darwin/x86_64) target=x86_64-apple-darwin ;;
  macOS/ARM64 | Darwin/arm64) target=aarch64-apple-darwin ;;
  Windows/X64) target=x86_64-pc-windows-msvc ;;
  *) target= ;;
esac
if [ "$version" = latest ]; then url=$base/latest/download; else url=$base/download/$version; fi

sha256() { if command -v sha256sum > /dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d' ' -f1; }

compile() {
  if [ "${MLSEC_NO_FALLBACK:-}" = 1 ]; then
    echo "mlsec: no release binary for this runner ($1) and MLSEC_NO_FALLBACK=1" >&2
    exit 1
  fi
  echo "mlsec: no release binary for this runner ($1): compiling from source (a few minutes)" >&2
  cargo install --locked --path "${ACTION_PATH:?}/crates/mlsec" --root "$dest"
  finish
}

finish() {
  "$dest/bin/mlsec" --version
  if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "mlsec=$dest/bin/mlsec" >> "$GITHUB_OUTPUT"; fi
  exit 0
}

[ -n "$target" ] || compile "no prebuilt target for ${RUNNER_OS:-?}/${RUNNER_ARCH:-?}"
case "$target" in *windows*) archive=mlsec-$target.zip ;; *) archive=mlsec-$target.tar.gz ;; esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fetch() { curl --fail --silent --show-error --location --retry 3 --output "$work/$1" "$url/$1"; }
if ! fetch "$archive" 2> "$work/err"; then
  compile "$archive not found at $url: $(tr -d '\n' < "$work/err")"
fi
fetch SHA256SUMS || { echo "mlsec: $url/SHA256SUMS cannot be downloaded" >&2; exit 1; }
expected=$(awk -v f="$archive" '$2 == f || $2 == "*"f { print $1 }' "$work/SHA256SUMS")
actual=$(sha256 "$work/$archive")
if [ -z "$expected" ]; then
  echo "mlsec: SHA256SUMS of $version has no line for $archive" >&2
  exit 1
fi
if [ "$expected" != "$actual" ]; then
  echo "mlsec: checksum mismatch for $archive: expected $expected, got $actual" >&2
  exit 1
fi
echo "mlsec: $archive sha256 $actual matches SHA256SUMS" >&2
if [ "${MLSEC_VERIFY_ATTESTATION:-true}" = true ]; then
  if command -v gh > /dev/null; then
    gh attestation verify "$work/$archive" --repo "$repo" >&2 || {
      echo "mlsec: the build provenance attestation of $archive does not verify" >&2
      exit 1
    }
  else
    echo "mlsec: gh is not installed: build provenance not verified (checksum only)" >&2
  fi
fi
mkdir -p "$dest/bin"
case "$archive" in
  *.zip) (cd "$work" && unzip -q "$archive") && cp "$work/mlsec-$target/mlsec.exe" "$dest/bin/" ;;
  *) tar xzf "$work/$archive" -C "$work" && cp "$work/mlsec-$target/mlsec" "$dest/bin/" ;;
esac
finish
