"""Making and keeping a model: the training program (train: its command line and its loop; run: what a run is made
of; build: setting a run up; resume: the state --resume continues from; provenance: how the run was made, for the
card), test-set evaluation (evaluate), safetensors checkpoints and their model card (checkpoint, card), MNIST weights
carried to MultiMNIST (transfer), and the error-or-exit helpers every command shares (cli).

Floor 5: may import the floors below (model, data, export, figures).
"""
