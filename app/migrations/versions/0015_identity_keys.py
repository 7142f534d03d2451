"""identity keys for e-mail addresses, userNames and allowed domains

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01

The keys stored before were case-folded (``str.casefold``), which made look-alikes one
member (``ſam@`` was ``sam@``, ``straße@`` was ``strasse@``) and compared domains in
Unicode against an allowlist stored in punycode. They are recomputed here with the
functions the code now keys with (:mod:`app.addresses`), so stored keys and computed keys
cannot differ:

- ``members.email_normalized`` and ``waiting_list.email_normalized``: the identity key of
  the stored address. Those addresses were stored validated (NFC, domain normalized), and
  for them the identity key is finer than case folding (a property test in
  ``tests/app/test_addresses.py``), so rows that were apart stay apart. Should two rows of
  one organization ever come to share a key, the migration stops and names them rather
  than make two people one member.
- ``directory_users.user_name_key``: the userName's key. UserNames were stored as sent, so
  two canonically equivalent ones (``é`` composed or not), or one domain spelled in Unicode
  and in punycode, now share a key: the oldest user keeps it; each later one gets a
  *retired* key that no userName maps to (it is not in NFC) and a warning names it. The
  identity provider still reaches that user by id; renaming it frees it.
- ``organization_domains.domain``: IDNA 2008 encoded. A stored domain that IDNA 2008
  refuses (IDNA 2003 allowed symbols such as ☃) is kept as it is, with a warning: it admits
  no address, and removing it could leave an allowlist empty, which admits everyone.

A key longer than its column (NFC and IDNA can lengthen a 320-character userName) is
retired the same way. Changed rows first take their retired key, then their new one, so no
intermediate state breaks a unique constraint. The downgrade restores the case-folded keys,
and stops if two members would then be one.
"""

import logging
from collections.abc import Callable, Sequence
from typing import Literal

import sqlalchemy as sa
from alembic import op

from app.addresses import domain_key, identity_key, lookup_key
from app.errors import InvalidInput

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("seatgate.migrations")

KEY_LENGTH = 320
KeyOf = Callable[[str], str]
Shared = Literal["refuse", "retire"]  # what two rows that come to share a key do

_members = sa.table(
    "members",
    sa.column("id"),
    sa.column("organization_id"),
    sa.column("email"),
    sa.column("email_normalized"),
)
_waiting = sa.table(
    "waiting_list",
    sa.column("id"),
    sa.column("organization_id"),
    sa.column("email"),
    sa.column("email_normalized"),
)
_users = sa.table(
    "directory_users",
    sa.column("member_id"),
    sa.column("organization_id"),
    sa.column("user_name"),
    sa.column("user_name_key"),
)
_domains = sa.table(
    "organization_domains", sa.column("id"), sa.column("organization_id"), sa.column("domain")
)


def retired(row_id: int) -> str:
    """A key no value maps to: computed keys are NFC, and NFC never keeps the Kelvin sign
    (case folding, the old rule, never kept it either)."""
    return f"\u212a{row_id}"


def upgrade() -> None:
    _rekey(_members, "id", "email", "email_normalized", identity_key, shared="refuse")
    _rekey(_waiting, "id", "email", "email_normalized", identity_key, shared="refuse")
    _rekey(_users, "member_id", "user_name", "user_name_key", lookup_key, shared="retire")
    _encode_domains()


def downgrade() -> None:
    _rekey(_members, "id", "email", "email_normalized", str.casefold, shared="refuse")
    _rekey(_waiting, "id", "email", "email_normalized", str.casefold, shared="refuse")
    _rekey(_users, "member_id", "user_name", "user_name_key", str.casefold, shared="retire")


def _rekey(
    table: sa.TableClause, id_name: str, source: str, key: str, key_of: KeyOf, *, shared: Shared
) -> None:
    """Store ``key_of(source)`` as each row's ``key``, unique per organization.

    A row whose key cannot be computed or does not fit is retired; two rows that would
    share a key either stop the migration (``shared="refuse"``) or the later one is retired
    (``shared="retire"``).
    """
    connection = op.get_bind()
    row_id, organization = table.c[id_name], table.c.organization_id
    rows = connection.execute(
        sa.select(row_id, organization, table.c[source], table.c[key]).order_by(row_id)
    ).all()
    holders: dict[tuple[int, str], int] = {}
    changed: dict[int, str] = {}
    for identifier, organization_id, value, old in rows:
        try:
            new = key_of(value)
        except InvalidInput as exc:
            log.warning("%s %s: %r has no key (%s); retired", table.name, identifier, value, exc)
            new = retired(identifier)
        if len(new) > KEY_LENGTH:
            log.warning("%s %s: the key of %r is too long; retired", table.name, identifier, value)
            new = retired(identifier)
        holder = holders.get((organization_id, new))
        if holder is not None:
            if shared == "refuse":
                raise RuntimeError(
                    f"{table.name} {holder} and {identifier} of organization {organization_id} "
                    f"would share the key {new!r}: they would become one. Resolve this by "
                    "hand (remove or rename one), then migrate again."
                )
            log.warning(
                "%s %s: %r is now the same as the userName of %s; its key is retired",
                table.name,
                identifier,
                value,
                holder,
            )
            new = retired(identifier)
        holders[(organization_id, new)] = identifier
        if new != old:
            changed[identifier] = new
    if not changed:
        return
    update = sa.update(table).where(row_id == sa.bindparam("row")).values({key: sa.bindparam("k")})
    connection.execute(update, [{"row": i, "k": retired(i)} for i in changed])
    connection.execute(update, [{"row": i, "k": k} for i, k in changed.items()])


def _encode_domains() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(_domains.c.id, _domains.c.organization_id, _domains.c.domain)
    ).all()
    taken = {(organization_id, domain) for _, organization_id, domain in rows}
    for identifier, organization_id, domain in rows:
        try:
            encoded = domain_key(domain)
        except InvalidInput as exc:
            log.warning("allowed domain %r of organization %s: %s", domain, organization_id, exc)
            continue
        if encoded != domain and (organization_id, encoded) not in taken:
            connection.execute(
                sa.update(_domains).where(_domains.c.id == identifier).values(domain=encoded)
            )
            taken.add((organization_id, encoded))
