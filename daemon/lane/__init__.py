"""Lane: per camera, decides which frames are worth reading and when a passage is over.

Receives: Frames from the camera's latest-frame slot, plate reads routed back from OCR.
Hands on: Candidates (a chosen frame and its plate area) to the OCR pool, and each confirmed
Passage (with its reads and a snapshot frame) to the recorder.

Modules: ``worker`` (the lane thread, the only owner of passage state), ``motion`` (moving and
occupied on the luma plane), ``bounds`` (changed pixels with shake tolerance), ``emptylane``
(the empty-lane picture), ``selection`` (frame scores and the send policy), ``passage``
(the passage tracker: opening, voting, closing).
"""
