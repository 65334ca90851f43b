"""TensorFlow's own chatter off (C++ start-up lines, retracing and AutoGraph warnings) for the
commands and the Python API, unless the user set TF_CPP_MIN_LOG_LEVEL. Call before TensorFlow is
first imported: its C++ logging level is read once, when it loads."""

from __future__ import annotations

import logging
import os


def quiet_tensorflow() -> None:
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:  # the user's choice
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)
    tf.autograph.set_verbosity(0)
