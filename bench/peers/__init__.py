"""The peers seatgate is measured beside, as WSGI applications for gunicorn."""
