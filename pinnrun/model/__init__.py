"""Model: the neural network as plain tf.Variables."""
