#!/usr/bin/env bash
# Starts the local Redis and PostgreSQL the tests use, if they are installed but not running.
# Where neither is installed the tests fall back to the embedded Redis and skip PostgreSQL (outside CI).
set -uo pipefail

if command -v redis-cli >/dev/null && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  if command -v redis-server >/dev/null; then
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || echo "could not start redis-server" >&2
  fi
fi

if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start \
      || echo "could not start PostgreSQL" >&2
  fi
fi

for _ in $(seq 1 30); do
  redis_ok=1; pg_ok=1
  command -v redis-cli >/dev/null && { redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || redis_ok=0; }
  command -v pg_isready >/dev/null && { pg_isready -q -h 127.0.0.1 -p 5432 || pg_ok=0; }
  [ "$redis_ok" = 1 ] && [ "$pg_ok" = 1 ] && exit 0
  sleep 1
done
echo "services did not come up in 30 s" >&2
exit 0
