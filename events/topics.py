"""Kafka topic and consumer group names: each region consumes only its own inbox."""


def inbox_topic(region: str) -> str:
    return f"tongban.inbox.{region}"


def consumer_group(region: str) -> str:
    return f"tongban-node-{region}"
