"""The network itself: ``CapsNet`` (capsnet), the one ``dynamic_routing`` and ``squash`` (routing), the margin and
reconstruction losses (losses), PrimaryCaps' strided convolution as a GEMM (strided_conv) and the training precision
(precision).

Floor 1: imports torch and nothing else from capsviz.
"""
