# gunicorn settings for a seatgate instance (the soak harness runs exactly these):
#   gunicorn --config config/gunicorn.conf.py --bind 127.0.0.1:8000 app.wsgi:application
# Every value can be overridden on the command line or with GUNICORN_CMD_ARGS.
import os

# JSON log lines, and /metrics summed over the workers (PROMETHEUS_MULTIPROC_DIR: the
# directory is made, or emptied, at start), as under `seatgate serve`.
from app.serving import child_exit, logger_class, on_exit, on_starting  # noqa: F401

# Sync workers: one request per process, so a slow request never delays another one's
# database transaction. Two to four per core; each holds up to [database] pool_size connections.
workers = int(os.environ.get("SEATGATE_SERVER_WORKERS", "2"))
worker_class = "sync"
# A worker stuck longer than this is killed and replaced. Database waits are bounded well below
# it (connect_timeout, statement_timeout), so it fires only on a real hang.
timeout = 60
graceful_timeout = 20  # SIGTERM: finish in-flight requests, then exit
keepalive = 5  # nginx keeps upstream connections open (keepalive in the upstream block)
max_requests = 2000  # recycle workers now and then (bounded memory growth)
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = "127.0.0.1"  # trust X-Forwarded-* only from the local nginx
