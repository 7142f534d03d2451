"""Random sequences of claim / release / deactivate / purchase / time passing keep I1-I4."""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select

from app.billing import purchase_seats
from app.db import Database
from app.errors import NoFreeSeat
from app.ledger import claim_seat, recount, release_seat, seat_usage
from app.models import Member, SeatAssignment
from app.organizations import get_member, get_organization
from app.proration import term_end
from app.renewal import renew_due_contracts
from tests.factories import OPERATOR, add_users, make_org

MEMBERS = 6
_slugs = itertools.count()


def run_ledger_machine(database: Database) -> None:
    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.slug = f"prop{next(_slugs)}"
            self.org_id = make_org(database, self.slug, seats=3)
            self.member_ids = add_users(
                database, self.slug, [f"m{i}@{self.slug}.example.com" for i in range(MEMBERS)]
            )
            self.now = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
            self.seated: set[int] = set()
            self.inactive: set[int] = set()
            self.purchased = 3
            self.term_start = dt.date(2026, 1, 1)

        def _member(self, session, index: int) -> Member:  # type: ignore[no-untyped-def]
            member = session.get(Member, self.member_ids[index])
            assert member is not None
            return member

        @rule(index=st.integers(0, MEMBERS - 1))
        def claim(self, index: int) -> None:
            member_id = self.member_ids[index]
            try:
                with database.unit_of_work() as session:
                    member = self._member(session, index)
                    if not member.active:
                        return
                    claim_seat(session, member, actor=OPERATOR, now=self.now)
                self._roll_model()
                assert member_id in self.seated or len(self.seated) < self.purchased
                self.seated.add(member_id)
            except NoFreeSeat:
                self._roll_model()
                assert member_id not in self.seated and len(self.seated) >= self.purchased

        @rule(index=st.integers(0, MEMBERS - 1))
        def release(self, index: int) -> None:
            with database.unit_of_work() as session:
                held = release_seat(
                    session, self._member(session, index), actor=OPERATOR, now=self.now
                )
            self._roll_model()
            assert held == (self.member_ids[index] in self.seated)
            self.seated.discard(self.member_ids[index])

        @rule(index=st.integers(0, MEMBERS - 1))
        def deactivate(self, index: int) -> None:
            with database.unit_of_work() as session:
                member = self._member(session, index)
                release_seat(session, member, actor=OPERATOR, now=self.now)
                member.active = False
            self._roll_model()
            self.seated.discard(self.member_ids[index])
            self.inactive.add(self.member_ids[index])

        @rule(quantity=st.integers(1, 3))
        def purchase(self, quantity: int) -> None:
            with database.unit_of_work() as session:
                organization = get_organization(session, self.slug)
                owner = get_member(session, organization, f"owner@{self.slug}.example.com")
                purchase_seats(
                    session, organization, quantity, buyer=owner, actor=OPERATOR, at=self.now
                )
            self._roll_model()
            self.purchased += quantity

        @rule(days=st.integers(1, 200))
        def time_passes(self, days: int) -> None:
            self.now += dt.timedelta(days=days)

        @rule()
        def renew(self) -> None:
            with database.unit_of_work() as session:
                renew_due_contracts(session, today=self.now.date(), actor=OPERATOR)
            self._roll_model()

        def _roll_model(self) -> None:
            """Mirror R7: each term that ended renews with the seats then in use."""
            while term_end(self.term_start) <= self.now.date():
                self.term_start = term_end(self.term_start)
                self.purchased = len(self.seated)

        @invariant()
        def counts_hold(self) -> None:
            with database.unit_of_work(write=False) as session:
                usage = seat_usage(session, self.org_id)
                result = recount(session, self.org_id)
                per_member = session.execute(
                    select(SeatAssignment.member_id, func.count())
                    .where(SeatAssignment.organization_id == self.org_id)
                    .group_by(SeatAssignment.member_id)
                ).all()
                inactive_with_seat = session.scalar(
                    select(func.count())
                    .select_from(SeatAssignment)
                    .join(Member, Member.id == SeatAssignment.member_id)
                    .where(Member.organization_id == self.org_id, Member.active.is_(False))
                )
            assert usage.assigned <= usage.purchased  # I1
            assert result.consistent, result.as_dict()  # I4
            assert all(count == 1 for _, count in per_member)  # I3
            assert inactive_with_seat == 0  # I3
            if usage.term_start == self.term_start:
                assert usage.purchased == self.purchased  # I2: only purchases change it
                assert usage.assigned == len(self.seated)

    LedgerMachine.TestCase.settings = settings(
        max_examples=25,
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    run_state_machine_as_test(LedgerMachine, settings=LedgerMachine.TestCase.settings)


def test_random_ledger_histories_keep_the_invariants(database: Database) -> None:
    run_ledger_machine(database)
