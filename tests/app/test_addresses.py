"""The identity key of an e-mail address: two spellings are one person exactly when the
rule says so, and look-alikes never are.

The rule, stated independently of ``app.addresses`` (the oracle of the properties): the
domain IDNA-encoded (UTS 46, non-transitional) and lower-cased; the local part normalized
to NFC and its ASCII letters lower-cased, two local parts being the same when the results
are canonically equivalent.
"""

from __future__ import annotations

import unicodedata

import idna
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.addresses import (
    domain_key,
    identity_key,
    local_part_key,
    lookup_key,
    normalize_email,
)
from app.errors import InvalidInput

# Letters that look alike, fold alike or compose: where a key could go wrong.
TRICKY = "sSſßẞkKKeEéÉ\u0301\u0300\u0308wWẘ\u030aaAåÅÅäÄiIİı\u0307jJǰ\u030cfiﬁ"
DOMAINS = [
    "bücher.example",
    "BÜCHER.example",
    "xn--bcher-kva.example",
    "XN--BCHER-KVA.EXAMPLE",
    "buecher.example",
    "straße.example",
    "strasse.example",
    "xn--strae-oqa.example",
    "example.com",
    "EXAMPLE.com",
    "ｅｘａｍｐｌｅ.com",
    "ΣΊΣΥΦΟΣ.example",
    "σίσυφος.example",
]


def ascii_lower(text: str) -> str:
    return "".join(c.lower() if "A" <= c <= "Z" else c for c in text)


def same_under_the_rule(a: str, b: str) -> bool:
    (local_a, _, domain_a), (local_b, _, domain_b) = a.rpartition("@"), b.rpartition("@")

    def local(text: str) -> str:
        return unicodedata.normalize("NFD", ascii_lower(unicodedata.normalize("NFC", text)))

    def domain(text: str) -> str:
        return idna.encode(text, uts46=True, transitional=False).decode().lower()

    return local(local_a) == local(local_b) and domain(domain_a) == domain(domain_b)


tricky_locals = st.text(alphabet=st.sampled_from(TRICKY), min_size=1, max_size=6)
any_locals = st.one_of(
    tricky_locals, st.text(alphabet=st.characters(exclude_characters="@"), min_size=1, max_size=8)
)


@st.composite
def spelling_of(draw: st.DrawFn, local: str, domain: str) -> str:
    """Another spelling of ``local@domain`` that the rule may or may not call the same."""
    choices = draw(st.lists(st.integers(0, 4), max_size=4))
    for choice in choices:
        if choice == 0:
            flips = draw(st.lists(st.booleans(), min_size=len(local), max_size=len(local)))
            pairs_ = zip(local, flips, strict=True)
            local = "".join(c.swapcase() if c.isascii() and flip else c for c, flip in pairs_)
        elif choice == 1:
            local = unicodedata.normalize(draw(st.sampled_from(["NFC", "NFD", "NFKC"])), local)
        elif choice == 2:
            local = local.replace("k", "\u212a").replace("K", "\u212a")
        elif choice == 3:
            local = local.casefold()  # Unicode case folding: a look-alike, mostly
        else:
            domain = draw(st.sampled_from(DOMAINS))
    return f"{local}@{domain}"


@st.composite
def pairs(draw: st.DrawFn, locals_: st.SearchStrategy[str] = any_locals) -> tuple[str, str]:
    """An address and either another spelling of it or any other address."""
    local, domain = draw(locals_), draw(st.sampled_from(DOMAINS))
    other = draw(
        st.one_of(
            spelling_of(local, domain),
            st.builds("{}@{}".format, locals_, st.sampled_from(DOMAINS)),
        )
    )
    return f"{local}@{domain}", other


@settings(max_examples=400)
@given(pairs())
def test_two_addresses_share_a_key_exactly_when_the_rule_says_they_are_one(
    pair: tuple[str, str],
) -> None:
    a, b = pair
    assert (identity_key(a) == identity_key(b)) == same_under_the_rule(a, b), pair


@settings(max_examples=400)
@given(st.text(max_size=12) | pairs().map(lambda pair: pair[1]))
def test_the_key_of_a_key_is_itself(text: str) -> None:
    key = lookup_key(text)
    assert lookup_key(key) == key
    assert unicodedata.is_normalized("NFC", key)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("sam@example.com", "\u017fam@example.com"),  # long s
        ("strasse@example.com", "straße@example.com"),
        ("strasse@example.com", "strasẞe@example.com"),
        ("ärger@example.com", "Ärger@example.com"),  # case beyond ASCII is kept
        ("ix@example.com", "ıx@example.com"),  # dotless i
        ("i@example.com", "İ@example.com"),
        ("anna@strasse.example", "anna@straße.example"),  # IDNA 2008 keeps ß
        ("anna@buecher.example", "anna@bücher.example"),
    ],
)
def test_look_alikes_are_other_addresses(one: str, other: str) -> None:
    assert identity_key(one) != identity_key(other)
    assert lookup_key(one) != lookup_key(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("kate@example.com", "\u212aATE@EXAMPLE.COM"),  # Kelvin sign is K
        ("éve@example.com", "e\u0301ve@example.com"),  # composed or not
        ("ẘ@example.com", "W\u030a@example.com"),  # a capital with no precomposed form
        ("anna@bücher.example", "ANNA@xn--bcher-kva.example"),
        ("anna@bücher.example", "anna@BÜCHER.example."),
        ("anna@ｅｘａｍｐｌｅ.com", "anna@example.com"),  # UTS 46 maps full-width letters
    ],
)
def test_spellings_of_one_address_share_its_key(one: str, other: str) -> None:
    assert identity_key(one) == identity_key(other)


@pytest.mark.parametrize(
    "address",
    [
        "anna@xn--zz.example",
        "anna@ab--cd.example",
        "anna@a_b.example",
        "anna@a\u200db.example",
        "anna@\u2615.example",
        "anna@",
        "anna",
        "@example.com",
    ],
)
def test_an_address_without_a_valid_idna_domain_has_no_identity_key(address: str) -> None:
    with pytest.raises(InvalidInput):
        identity_key(address)
    with pytest.raises(InvalidInput):
        normalize_email(address)
    assert lookup_key(address) == local_part_key(address)  # a userName may still be it


def validated(address: str) -> str | None:
    try:
        return validate_email(
            address, check_deliverability=False, globally_deliverable=False, allow_smtputf8=True
        ).normalized
    except EmailNotValidError:
        return None


@settings(max_examples=300)
@given(pairs(locals_=tricky_locals))
def test_stored_addresses_that_share_a_key_shared_the_case_folded_one(
    pair: tuple[str, str],
) -> None:
    """Why migration 0015 cannot make two members one: members' addresses are stored
    validated (``normalize_email``), and for those the identity key is finer than the
    case-folded key it replaces."""
    a, b = (validated(address) for address in pair)
    assume(a is not None and b is not None)
    assert a is not None and b is not None
    if normalize_email(a)[1] == normalize_email(b)[1]:
        assert a.casefold() == b.casefold(), (a, b)


@settings(max_examples=200)
@given(pairs(locals_=tricky_locals).map(lambda pair: pair[1]))
def test_a_validated_address_keeps_its_key_and_its_ascii_domain(address: str) -> None:
    """Validation changes nothing the key depends on, and the key's domain is the one
    e-mail validation encodes (the same library, the same IDNA options)."""
    try:
        checked = validate_email(
            address, check_deliverability=False, globally_deliverable=False, allow_smtputf8=True
        )
    except EmailNotValidError:
        assume(False)
        return
    assert normalize_email(address)[1] == identity_key(address)
    assert domain_key(checked.domain) == checked.ascii_domain.lower()
