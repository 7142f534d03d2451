"""The attributes this server supports, as data (RFC 7643 section 7).

One table drives everything that depends on an attribute's definition: the ``/Schemas``
documents, input validation (``scim.resources``), filter and sort compilation (``caseExact``,
type) and projection (``returned``). Changing what the server supports means changing this
table, and the discovery documents follow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SERVICE_PROVIDER_CONFIG_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"


@dataclass(frozen=True)
class Attribute:
    name: str
    type: str = "string"
    multi_valued: bool = False
    description: str = ""
    required: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"
    returned: str = "default"
    uniqueness: str = "none"
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()
    sub_attributes: tuple[Attribute, ...] = field(default=())

    def sub(self, name: str) -> Attribute | None:
        wanted = name.lower()
        return next((a for a in self.sub_attributes if a.name.lower() == wanted), None)

    def item(self) -> Attribute:
        """One item of a multi-valued attribute: the same attribute, single-valued."""
        return replace(self, multi_valued=False)

    @property
    def writable(self) -> bool:
        return self.mutability in {"readWrite", "writeOnly", "immutable"}

    def as_schema(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": self.mutability,
            "returned": self.returned,
            "uniqueness": self.uniqueness,
        }
        if self.canonical_values:
            document["canonicalValues"] = list(self.canonical_values)
        if self.reference_types:
            document["referenceTypes"] = list(self.reference_types)
        if self.sub_attributes:
            document["subAttributes"] = [a.as_schema() for a in self.sub_attributes]
        return document


def _multi(
    name: str,
    description: str,
    types: tuple[str, ...],
    *,
    value_type: str = "string",
    reference_types: tuple[str, ...] = (),
) -> Attribute:
    return Attribute(
        name,
        "complex",
        multi_valued=True,
        description=description,
        sub_attributes=(
            Attribute("value", value_type, reference_types=reference_types),
            Attribute("display", description="A human-readable name, for display only."),
            Attribute("type", canonical_values=types),
            Attribute("primary", "boolean", description="The preferred value, at most one."),
        ),
    )


USER_ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute(
        "userName",
        required=True,
        uniqueness="server",
        description="Unique identifier for the user, case-insensitive within the organization.",
    ),
    Attribute(
        "name",
        "complex",
        description="The components of the user's real name.",
        sub_attributes=(
            Attribute("formatted"),
            Attribute("familyName"),
            Attribute("givenName"),
            Attribute("middleName"),
            Attribute("honorificPrefix"),
            Attribute("honorificSuffix"),
        ),
    ),
    Attribute("displayName", description="The name of the user, for display."),
    Attribute("nickName"),
    Attribute("profileUrl", "reference", reference_types=("external",)),
    Attribute("title"),
    Attribute("userType"),
    Attribute("preferredLanguage"),
    Attribute("locale"),
    Attribute("timezone"),
    Attribute(
        "active",
        "boolean",
        description="An active user holds a seat; deactivating releases it.",
    ),
    _multi("emails", "E-mail addresses.", ("work", "home", "other")),
    _multi("phoneNumbers", "Phone numbers.", ("work", "home", "mobile", "fax", "pager", "other")),
    _multi("ims", "Instant messaging addresses.", ("aim", "gtalk", "icq", "xmpp", "skype")),
    _multi(
        "photos",
        "URLs of photos.",
        ("photo", "thumbnail"),
        value_type="reference",
        reference_types=("external",),
    ),
    Attribute(
        "addresses",
        "complex",
        multi_valued=True,
        description="Physical mailing addresses.",
        sub_attributes=(
            Attribute("formatted"),
            Attribute("streetAddress"),
            Attribute("locality"),
            Attribute("region"),
            Attribute("postalCode"),
            Attribute("country"),
            Attribute("type", canonical_values=("work", "home", "other")),
            Attribute("primary", "boolean"),
        ),
    ),
    Attribute(
        "groups",
        "complex",
        multi_valued=True,
        mutability="readOnly",
        description="The groups the user is a member of; change them through /Groups.",
        sub_attributes=(
            Attribute("value", mutability="readOnly"),
            Attribute(
                "$ref", "reference", mutability="readOnly", reference_types=("User", "Group")
            ),
            Attribute("display", mutability="readOnly"),
            Attribute("type", mutability="readOnly", canonical_values=("direct", "indirect")),
        ),
    ),
    _multi("entitlements", "Entitlements.", ()),
    _multi("roles", "Roles in the identity provider (not seatgate roles).", ()),
)

ENTERPRISE_ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("employeeNumber"),
    Attribute("costCenter"),
    Attribute("organization"),
    Attribute("division"),
    Attribute("department"),
    Attribute(
        "manager",
        "complex",
        sub_attributes=(
            Attribute("value", description="The id of the manager's User resource."),
            Attribute("$ref", "reference", reference_types=("User",)),
            Attribute("displayName", mutability="readOnly"),
        ),
    ),
)

# Common attributes (RFC 7643 section 3.1): filterable and sortable, not part of /Schemas.
COMMON_ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("id", case_exact=True, mutability="readOnly", returned="always", uniqueness="server"),
    Attribute("externalId", case_exact=True),
    Attribute(
        "meta",
        "complex",
        mutability="readOnly",
        sub_attributes=(
            Attribute("resourceType", case_exact=True, mutability="readOnly"),
            Attribute("created", "dateTime", mutability="readOnly"),
            Attribute("lastModified", "dateTime", mutability="readOnly"),
            Attribute("location", "reference", case_exact=True, mutability="readOnly"),
            Attribute("version", case_exact=True, mutability="readOnly"),
        ),
    ),
)

GROUP_ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute(
        "displayName",
        required=True,
        uniqueness="server",
        description="The group's name, unique in the organization (case-insensitively).",
    ),
    Attribute(
        "members",
        "complex",
        multi_valued=True,
        description="The users in the group (groups cannot contain groups).",
        sub_attributes=(
            Attribute("value", mutability="immutable", description="The id of a User."),
            Attribute("$ref", "reference", mutability="immutable", reference_types=("User",)),
            Attribute("type", mutability="immutable", canonical_values=("User",)),
        ),
    ),
)

MULTI_VALUED = frozenset(a.name for a in USER_ATTRIBUTES if a.multi_valued)


@dataclass(frozen=True)
class AttributeRef:
    """An attribute (and sub-attribute) of the User, and whether it is the extension's."""

    enterprise: bool
    attribute: Attribute
    sub: Attribute | None = None

    def container(self, document: dict[str, Any], *, create: bool) -> dict[str, Any] | None:
        """The object of a User document that holds this attribute."""
        if not self.enterprise:
            return document
        extension = document.get(ENTERPRISE_USER)
        if not isinstance(extension, dict):
            if not create:
                return None
            extension = document[ENTERPRISE_USER] = {}
        return extension


def resolve(urn: str | None, name: str, sub: str | None = None) -> AttributeRef:
    """The User attribute named ``[urn:]name[.sub]``.

    Without a URN the core and common attributes are searched first, then the extension's.
    Raises :class:`LookupError` naming what this server does not have.
    """
    lowered = urn.lower() if urn else None
    attribute: Attribute | None = None
    enterprise = False
    if lowered in (None, CORE_USER.lower()):
        attribute = find(USER_ATTRIBUTES + COMMON_ATTRIBUTES, name)
    if attribute is None and lowered in (None, ENTERPRISE_USER.lower()):
        attribute = find(ENTERPRISE_ATTRIBUTES, name)
        enterprise = attribute is not None
    if attribute is None:
        prefix = f"{urn}:" if urn else ""
        raise LookupError(f"Unknown attribute {prefix}{name}.")
    sub_attribute = None
    if sub is not None:
        sub_attribute = attribute.sub(sub)
        if sub_attribute is None:
            raise LookupError(f"{attribute.name} has no sub-attribute {sub!r}.")
    return AttributeRef(enterprise, attribute, sub_attribute)


def find(attributes: Iterable[Attribute], name: str) -> Attribute | None:
    """Attribute names are case-insensitive (RFC 7643 section 2.1)."""
    wanted = name.lower()
    return next((a for a in attributes if a.name.lower() == wanted), None)


def schema_document(
    schema_id: str, name: str, description: str, attributes: tuple[Attribute, ...], base: str
) -> dict[str, Any]:
    return {
        "schemas": [SCHEMA_SCHEMA],
        "id": schema_id,
        "name": name,
        "description": description,
        "attributes": [a.as_schema() for a in attributes],
        "meta": {"resourceType": "Schema", "location": f"{base}/Schemas/{schema_id}"},
    }


def schema_documents(base: str) -> Mapping[str, dict[str, Any]]:
    return {
        CORE_USER: schema_document(CORE_USER, "User", "User Account", USER_ATTRIBUTES, base),
        ENTERPRISE_USER: schema_document(
            ENTERPRISE_USER, "EnterpriseUser", "Enterprise User", ENTERPRISE_ATTRIBUTES, base
        ),
        CORE_GROUP: schema_document(CORE_GROUP, "Group", "Group", GROUP_ATTRIBUTES, base),
    }
