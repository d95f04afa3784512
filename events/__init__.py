"""Event models, envelope, canonical form, signing, Kafka transport, outbox relay, inbox."""
