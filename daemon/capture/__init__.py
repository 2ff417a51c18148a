"""Capture: one thread per camera turns an RTSP stream (or a clip) into Frames.

Receives: a camera's config (URL, FFmpeg options, decoder threads).
Hands on: the newest decoded Frame (luma plane + PTS on a continuing stream clock) through a
one-slot mailbox that never blocks the decoder, and CameraStatus changes for MQTT and health.

Modules: ``thread`` (the capture thread, reconnect with backoff), ``feed`` (one stream's
packets into the decoder), ``idle`` (key frames only while the lane is empty or capture is
behind real time), ``source`` (FFmpeg options, file targets, password scrubbing), ``slot``
(Frame building, the latest-frame slot and the lane's busy/idle word back to capture),
``clock`` (PTS to seconds on a continuing timeline, file pacing, live lag); with a
``detect_url``: ``dual`` (the supervisor, degrading to the stream that works),
``mainstream`` (the main stream decoded only while the lane is busy), ``pairing`` (what to
decode of it, one clock and one timeline for both streams, the ROI rule).
"""
