#!/bin/sh
# Installs the Debian packages gatewayd builds and tests with, when pkg-config
# (or the command itself) cannot find them. Safe to run repeatedly.
#   deps.sh         what `make`, `make run` and `make test` need
#   deps.sh bench   also the load tools and the nginx baseline of `make bench`
set -e
need=""
check_pc() { pkg-config --exists "$1" 2>/dev/null || need="$need $2"; }
check_cmd() { command -v "$1" >/dev/null 2>&1 || need="$need $2"; }

check_cmd pkg-config pkg-config
check_cmd cc gcc
check_cmd make make
check_pc sqlite3 libsqlite3-dev
check_pc libmicrohttpd libmicrohttpd-dev
check_pc libcurl libcurl4-openssl-dev
check_pc openssl libssl-dev
check_pc libcjson libcjson-dev
check_pc libsodium libsodium-dev
check_pc readline libreadline-dev
check_pc yaml-0.1 libyaml-dev
check_pc libpcre2-8 libpcre2-dev
check_pc cmocka libcmocka-dev
check_cmd curl curl
check_cmd sqlite3 sqlite3
check_cmd node nodejs
check_cmd npm npm
[ -x /usr/bin/python3 ] || need="$need python3"
/usr/bin/python3 -c 'import pytest' 2>/dev/null || need="$need python3-pytest"
if [ "${1:-}" = bench ]; then
    check_cmd wrk wrk
    check_cmd h2load nghttp2-client
    [ -x /usr/sbin/nginx ] || need="$need nginx-light"
fi

if [ -n "$need" ]; then
    echo "deps: installing:$need"
    if [ "$(id -u)" != 0 ]; then
        echo "deps: not root; install these packages and re-run:$need" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $need
fi
