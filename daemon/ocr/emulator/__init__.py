"""The Tencent LicensePlateOCR stand-in: a loopback HTTP server for tests, benches and the demo.

Receives: signed LicensePlateOCR requests (it checks the TC3 signature like the cloud).
Hands on: Tencent-shaped answers read by a local reader (RapidOCR) or a ground-truth oracle,
and scripted faults.

Modules: ``server`` (the HTTP server and its request handling), ``cli`` (``gatecam
emulate-tencent``), ``wire`` (answer builders), ``faults`` (fault plans), ``readers``
(RapidOCR and oracle readers).
"""
