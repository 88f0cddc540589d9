"""What the page is sent: the decoder's weights as one compact float16 payload (decoder), the pose editor's
slider specs and input (pose_payload), and the CapsNet's trace as an ONNX graph with float16 weights that the page
runs itself for the live reading (onnx; served by capsviz.app.live, see docs/app.md#the-live-reading).

Floor 3: may import ``capsviz.model`` and ``capsviz.data``.
"""
