"""What goes into the network: MNIST from a local folder (mnist), MultiMNIST pairs and their test set (multimnist),
batched augmentation (augment), uploaded files decoded safely (uploads), and drawings and uploads turned into
MNIST's format (preprocess, preprocess_pair).

Floor 2: may import ``capsviz.model``.
"""
