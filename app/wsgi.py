"""WSGI entry point for gunicorn: ``gunicorn app.wsgi:application``.

Each worker imports this module after the fork, so with ``[alerts] deliver_in_background``
every worker also runs an alert deliverer thread (safe: deliverers share work by claiming).
"""

import sys

from app import create_app, database_of, settings_of
from app.alerts.delivery import BackgroundDelivery
from app.settings import SettingsError

try:
    application = create_app()
except SettingsError as error:  # one line naming the setting, not a traceback per worker
    print(f"error: configuration: {error}", file=sys.stderr)
    sys.exit(3)  # gunicorn's "worker failed to boot": the master stops instead of respawning

background_delivery = (
    BackgroundDelivery(database_of(application), settings_of(application))
    if settings_of(application).alerts.deliver_in_background
    else None
)
