"""Every bound pinnrun puts on its input, in one place, each with its reason.

The values are far above anything a real problem needs (the shipped specs are
about 2 KB with expressions under 100 characters), and low enough that the
worst input still validates in about a second and a few tens of MB: hostile
input is refused in bounded time and memory, never by running out of either.
"""

from __future__ import annotations

# Spec and cluster files. The shipped specs are ~2 KB; 1 MiB of YAML (long strings, block
# text, comments) parses in 0.3-1.3 s.
MAX_SPEC_FILE_BYTES = 1024 * 1024

# YAML nesting (mappings and lists inside each other). PyYAML builds and converts
# nodes recursively; 64 levels keep it far from Python's recursion limit. Specs use 4.
MAX_YAML_DEPTH = 64

# YAML values after expanding aliases (`*name` counts as the whole value it
# stands for): an alias bomb of a few hundred bytes expands to billions.
# 20,000 values load in about a second (100,000 took 3.6 s: PyYAML is pure Python here);
# a spec has about 100 and a 4,000-host cluster spec 20,000.
MAX_YAML_VALUES = 20_000

# Expressions: characters, checked before Python's parser sees the text.
MAX_EXPRESSION_CHARS = 10_000

# Expressions: syntax-tree nodes (numbers, names, operators, calls).
# A 900-term sum is 1,799 nodes.
MAX_EXPRESSION_NODES = 2_000

# Expressions: nesting after sums, products and sign chains are flattened
# (parentheses, function calls and powers inside each other). Evaluation
# recurses once per level, so this keeps it far from Python's recursion limit
# even inside TensorFlow's tracing and gradient tapes.
MAX_EXPRESSION_DEPTH = 100

# Reference .npz files: array data after decompression, from the .npy headers
# and enforced while reading (a zip member is never decompressed past its
# declared size). 256 MiB holds a 2-D float64 grid of 5,000 x 5,000 points.
MAX_REFERENCE_BYTES = 256 * 1024 * 1024

# Reference .npz files: zip members. A reference has one array per input and
# output; the zip directory is read whole, so its entry count is bounded first.
MAX_REFERENCE_MEMBERS = 1_000

# Polygon vertices. Validation looks for crossing edges among the pairs that overlap in x
# and y (a smooth outline of 10,000 vertices: 0.01 s; the worst case, spikes all meeting
# near one point, is quadratic: 3.3 s at 10,000, 1.1 s at 5,000) and triangulates by ear
# clipping (0.3 s at 5,000). A traced outline rarely has 1,000.
MAX_POLYGON_VERTICES = 5_000

# Operands of one union, difference or intersection. Every containment test visits each
# operand; 64 is far beyond a hand-written domain (an L-shape or a plate with holes needs 2-10).
MAX_CSG_OPERANDS = 64

# Geometry coordinates (bounds, centres, radii, vertices): the same bound as every other
# coordinate (float32 holds 3.4e38; the network scales inputs by the box's width and centre).
MAX_GEOMETRY_COORDINATE = 1e30
