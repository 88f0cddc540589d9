"""What measures the model on drawings rather than on MNIST: scripted drawn digits (drawn_digits), MNIST test digits
re-inked with the canvas pen (redrawn_mnist), and scripted overlapping pairs (drawn_pairs).

Floor 7: may import every floor below; not the app and not the benchmark.
"""
