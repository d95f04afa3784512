"""The local stack: Kafka (KRaft), Temporal dev server and embedded Postgres."""
