"""The reference SCIM server, scim2-server, with its in-memory store holding the bench users.

Served by gunicorn with the same settings as seatgate (``--preload``: the users are loaded
once, before the workers fork). ``BENCH_USERS`` users are created through the store's own
``create`` (the model validates each one); ids are the dataset's, so the same load scripts hit
the same users. Bearer token: ``BENCH_TOKEN``.
"""

from __future__ import annotations

import os
from typing import Any

from scim2_models import ResourceType, ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)

from bench import dataset


class BenchStorage(InMemoryStorage):
    def generate_id(self, resource_type: ResourceType, resource: Any) -> str:
        return dataset.resource_id_for(str(resource.user_name))


def build(users: int, token: str) -> BearerTokenApplication:
    config = load_default_service_provider_config()
    config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    provider = ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(), config=config
    )
    storage = BenchStorage()
    user_type = next(rt for rt in provider.resource_types if rt.id == "User")
    model: Any = provider.model_for(user_type)
    for i in range(users):
        storage.create(user_type, model.model_validate(dataset.scim_user(i)))
    service = ScimService(provider, secret=token)
    return BearerTokenApplication(storage, provider, service=service, bearer_tokens=[token])


application = build(int(os.environ.get("BENCH_USERS", "0")), os.environ["BENCH_TOKEN"])
