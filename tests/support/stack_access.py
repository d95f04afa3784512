"""How a test reaches the stack of its profile, the one way for every suite (issue 23).

On the default (dev) stack everything is in the clear. On the cluster profile (decision 0037)
Temporal's frontend wants a client certificate and Kafka's client listeners want SASL over TLS;
a test then connects as the nodes do, with what `tongban stack up --profile cluster` recorded:

- Temporal: as the region's node (`regions.local.local_node_settings` + `connect_as_node`:
  its namespace, its client certificate on the cluster, nothing on the dev server);
- Kafka, for what a test does as the bus itself (forged and replayed records straight into an
  inbox, reading every topic, small topics of its own): in the clear on the dev stack's
  listener, as the exchange admin over mutual TLS on the cluster's INTERNAL listeners (the
  principal `up` applies topics and ACLs with, a super user, as anyone on the dev listener is);
- Postgres needs nothing: the recorded DSN is the profile's (a socket with local trust).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from temporalio.client import Client

from deploy.stack.cluster_kafka import admin_ssl_context
from deploy.stack.cluster_layout import ClusterLayout
from deploy.stack.settings import StackEndpoints, StackSettings
from regions.local import local_node_settings
from regions.node import connect_as_node


def on_cluster(settings: StackSettings) -> bool:
    return settings.stack_profile == "cluster"


def dev_stack_only(why: str) -> pytest.MarkDecorator:
    """Skip on the cluster profile a test about the dev stack itself, saying why (few: most
    tests run on both)."""
    return pytest.mark.skipif(
        on_cluster(StackSettings()), reason=f"dev stack only (cluster profile): {why}"
    )


async def temporal_client(settings: StackSettings, stack: StackEndpoints, region: str) -> Client:
    """A Temporal client in the region's namespace, connected as the region's node connects."""
    return await connect_as_node(local_node_settings(region, settings, stack))


@dataclass(frozen=True)
class Bus:
    """Kafka as the bus itself: a bootstrap list and the client options that go with it."""

    bootstrap: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def producer(self, **kwargs: Any) -> AIOKafkaProducer:
        return AIOKafkaProducer(bootstrap_servers=self.bootstrap, **self.options, **kwargs)

    def consumer(self, *topics: str, **kwargs: Any) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(*topics, bootstrap_servers=self.bootstrap, **self.options, **kwargs)

    def admin(self, **kwargs: Any) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, **self.options, **kwargs)


def bus_for(settings: StackSettings, stack: StackEndpoints) -> Bus:
    if not on_cluster(settings):
        return Bus(stack.kafka_bootstrap)
    layout = ClusterLayout.of(settings)
    return Bus(
        layout.kafka_admin_bootstrap,
        {"security_protocol": "SSL", "ssl_context": admin_ssl_context(layout)},
    )
