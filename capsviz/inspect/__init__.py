"""Looking inside a trained model: one image's trace through every routing iteration (trace), the two-digit trace
(pair_trace), the measured pose atlas (pose_atlas; its measuring and naming, pose_effects; the editor's sliders,
pose_sliders), Integrated Gradients (attribution), input transforms and pose sweeps (equivariance), and how much
routing moves the couplings (routing_effect).

Floor 6: may import the floors below (model, data, export, figures, training).
"""
