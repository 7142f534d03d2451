"""WSGI entry point for gunicorn: ``gunicorn app.wsgi:application``.

Each worker imports this module after the fork, so with ``[alerts] deliver_in_background``
every worker also runs an alert deliverer thread (safe: deliverers share work by claiming).
"""

from app import create_app, database_of, settings_of
from app.alerts.delivery import BackgroundDelivery

application = create_app()

background_delivery = (
    BackgroundDelivery(database_of(application), settings_of(application))
    if settings_of(application).alerts.deliver_in_background
    else None
)
