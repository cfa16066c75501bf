#!/bin/sh
# `make run` helper: puts gwctl on PATH (a symlink in /usr/local/bin to the
# freshly built binary) when that is possible and no other gwctl is there.
target=$1
dir=/usr/local/bin
[ -w "$dir" ] || exit 0
if [ -L "$dir/gwctl" ] || [ ! -e "$dir/gwctl" ]; then
    ln -sf "$target" "$dir/gwctl"
fi
