"""What the page is sent: the decoder's weights as one compact float16 payload (decoder) and the pose editor's
slider specs and input (pose_payload).

Floor 3: may import ``capsviz.model`` and ``capsviz.data``.
"""
