#!/bin/sh
# deploy/nginx.conf with the compose nodes as its upstream servers: the example
# `server 127.0.0.1:...` lines are replaced by deploy/compose/upstream.conf, nothing else
# changes (tests/test_deploy_files.py checks it). The nginx image runs every executable
# /docker-entrypoint.d/*.sh before it starts nginx; compose mounts this file there.
#   render-nginx.sh [SITE] [UPSTREAM] [OUT]
set -eu
site=${1:-/etc/chinwag/nginx.conf}
upstream=${2:-/etc/chinwag/upstream.conf}
out=${3:-/etc/nginx/conf.d/default.conf}
awk -v upstream="$upstream" '
  /^    server 127\.0\.0\.1:[0-9]+/ {
    if (!done) { while ((getline line < upstream) > 0) print line; done = 1 }
    next
  }
  { print }
' "$site" > "$out.new"
mv "$out.new" "$out"
echo "chinwag: rendered $out from $site and $upstream"
