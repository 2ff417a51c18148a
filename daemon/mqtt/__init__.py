"""MQTT: delivers committed events to the gate controllers and dashboards.

Receives: outbox rows from the store, retained status messages from the other stages.
Hands on: QoS 1 publishes to the broker; a PUBACK marks the outbox row delivered.

Modules: ``publisher`` (paho client, Last Will, outbox delivery), ``gate`` (gate commands),
``discovery`` (Home Assistant discovery messages), ``snapshot`` (the retained plate-area
JPEG per camera), ``daily`` (cloud calls today).
"""
