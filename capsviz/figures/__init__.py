"""Every plotly figure, built by pure functions: arrays in, figures out, testable without a browser (style: the
shared colours, layout and image helpers; lengths: the capsule lengths; routing: the couplings and their statistics;
sweeps: Figure 4 and transformation sweeps; playback: routing frame by frame; atlas: the pose atlas; pairs: the
two-digit page).

Floor 4: may import ``capsviz.model``, ``capsviz.data`` and ``capsviz.export``; never streamlit.
"""
