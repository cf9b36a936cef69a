"""The only place that talks to Kafka: broker, topics, offsets, app, agents, views."""
