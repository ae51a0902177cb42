"""Accord's public contract: topics, the event envelope, every event, command and submission
model, and the one codec. Pure data: nothing here imports Kafka."""
