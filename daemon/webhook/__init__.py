"""Webhooks: passage events POSTed to HTTP targets from the transactional outbox."""
