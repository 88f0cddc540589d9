"""Every plotly figure, built by pure functions: arrays in, figures out, testable without a browser (core: lengths,
couplings, sweeps; playback: routing frame by frame; atlas: the pose atlas; pairs: the two-digit page).

Floor 4: may import ``capsviz.model``, ``capsviz.data`` and ``capsviz.export``; never streamlit.
"""
