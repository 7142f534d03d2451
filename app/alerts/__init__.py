"""Owner alerts (R12): never lost, never spam.

``triggers`` write alerts into the ``alerts`` outbox in the transaction of the event that
caused them; ``delivery`` later fans each alert out to the owners' e-mail addresses and the
organization's webhooks and sends it, retrying until it is through (at least once, with a
stable message id). ``policy`` holds each organization's thresholds, ``messages`` the words.
"""
