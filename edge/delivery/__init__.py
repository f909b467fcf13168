"""Getting deltas to the cloud: the durable outbox (SQLite WAL) and the MQTT publisher."""
