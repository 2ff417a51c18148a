"""OCR: reads plates from candidate frames with Tencent LicensePlateOCR, within budget.

Receives: Candidates from the lanes, each with a reply callback.
Hands on: PlateReads (plate, colour, confidence, box, or a classified error) to that callback.

Modules: ``tencent`` (the signed HTTP client), ``response`` (parsing answers), ``errors``
(the error codes and what each means), ``endpoints`` (primary/failover switch), ``prepare``
(crop and JPEG), ``pool`` (worker threads), ``ratelimit`` and ``fleet`` (the local and the
Redis-shared 10/s budget), ``circuit`` (stop calling while the account or service is down).
``emulator/`` is the loopback stand-in for the cloud used by the tests and the demo.
"""
