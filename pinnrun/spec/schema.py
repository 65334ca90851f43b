"""The shape of a problem spec (types, ranges, allowed keys).

Cross-field rules (names in expressions, term names, geometry sides) live in
`validate.py`; this file only says what each field may hold.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from pinnrun.spec.geometry_schema import Geometry  # regions: one kind per mapping, CSG nested
from pinnrun.spec.limits import MAX_GEOMETRY_COORDINATE
from pinnrun.spec.numbers import Bounds, Bytes, no_boolean


def _no_boolean_expression(value):
    if isinstance(value, bool):
        raise ValueError("a boolean is not an expression or a number")
    return value


# Upper bounds no real run reaches, so a typo or a hostile spec fails at validation
# instead of after the ranks started (see docs/spec.md for the list).
MAX_POINTS = 2**31 - 1  # per term: TF indexes a tensor's rows with int32
MAX_WIDTH = 65_536  # per hidden layer: 65,536^2 weights is already 16-32 GiB
MAX_LAYERS = 64  # PINNs use 2-10 hidden layers
MAX_STEPS = 10**9  # at 1 ms a step, 11 days
MAX_HISTORY = 1_000  # L-BFGS pairs; 5-100 is usual
MAX_CHECKPOINT_MINUTES = 10**6  # ~2 years: "never by time"
MAX_CHECKPOINTS_KEPT = 1_000
MAX_LEARNING_RATE = 10.0  # Adam rates are ~1e-4..1e-2
MAX_LOSS_WEIGHT = 1e8  # beyond, float32 sums lose every other term
MAX_SEED = 2**32 - 1  # numpy's SeedSequence and TF take unsigned 32-bit seeds
MIN_MEMORY_BUDGET = 2**20  # 1 MiB; TensorFlow's own graphs take ~90 MiB (spec/memory.py)
MAX_MEMORY_BUDGET = 2**40  # 1 TiB, spec/memory.py's ceiling for one rank
MAX_GRID_AXIS = 4096
MAX_GRID_POINTS = 2**24  # a 4096 x 4096 reference grid; rank 0 holds it whole
DEFAULT_POINTS = {1: 256, 2: 101, 3: 41}  # reference grid points per spatial axis, by number of spatial axes
DEFAULT_TIME_POINTS = 101
MAX_RAD_EXPONENT = 10.0  # RAD's k: Wu et al. 2023 use 0-3; |r|^k overflows float64 far beyond
MAX_RAD_OFFSET = 1e6  # RAD's c: beyond, the density is uniform to 6 digits
MAX_CAUSAL_CHUNKS = 4096  # time slices of the causal weights; jaxpi uses 16-32
MAX_CAUSAL_EPSILON = 1e4  # exp(-epsilon x loss): Wang et al. 2022 anneal epsilon from 1e-2 to 1e2
MAX_NAME_CHARS = 64  # the run folder is <name>-<time>: far below the file system's 255 bytes
# Fourier features: B ~ N(0, scale^2) on inputs in [-1, 1], so ~scale cycles over the box. At 1e4 a float32
# phase (|2 pi x B| up to ~3e5) carries ~0.02 rad of rounding; ten times more and the features are noise.
# Each derivative order also multiplies by ~2 pi scale. Papers use 1-200.
MAX_FOURIER_SCALE = 1e4
MAX_HARMONICS = 64  # Dong & Ni use 1-4; each harmonic adds 2 inputs to the first layer
MAX_PERIODIC_CYCLES = 1e4  # a periodic input's top harmonic over the domain's width: as MAX_FOURIER_SCALE

Int = Annotated[int, BeforeValidator(no_boolean)]
Float = Annotated[float, BeforeValidator(no_boolean)]
PositiveInt = Annotated[int, Field(gt=0), BeforeValidator(no_boolean)]
NAME, TERM_NAME = r"^[A-Za-z][A-Za-z0-9]*$", r"^[A-Za-z][A-Za-z0-9_]*$"
PART_NAME, DERIVATIVE_NAME = r"^[A-Za-z][A-Za-z0-9_.]*$", r"^[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+$"
# what an error says instead of the pattern a name failed
PATTERN_HELP = {
    NAME: "a name is a letter, then letters or digits (no _: u_x would read as a derivative)",
    TERM_NAME: "a name is a letter, then letters, digits or _",
    PART_NAME: "a boundary part is a letter, then letters, digits, _ or . (operand.part)",
    DERIVATIVE_NAME: "a derivative is written OUTPUT_VARIABLES, e.g. u_x or u_xt",
}
Name = Annotated[str, StringConstraints(pattern=NAME, max_length=MAX_NAME_CHARS)]
TermName = Annotated[str, StringConstraints(pattern=TERM_NAME, max_length=MAX_NAME_CHARS)]
# YAML gives numbers for constant expressions
ExprText = Annotated[Union[str, float, int], BeforeValidator(_no_boolean_expression)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Variables(Strict):
    space: list[Name] = Field(min_length=1, max_length=3)
    time: Name | None = None


# Conditions: one class per kind, told apart by `kind`. The loss term that implements a kind
# lives in pinnrun/problem/terms/<kind>.py; adding a kind is that file plus a class here.
PartName = Annotated[str, StringConstraints(pattern=PART_NAME, max_length=4 * MAX_NAME_CHARS)]
DerivativeName = Annotated[str, StringConstraints(pattern=DERIVATIVE_NAME, max_length=4 * MAX_NAME_CHARS)]
ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class Dirichlet(Strict):
    """output = value on a boundary part."""

    kind: Literal["dirichlet"]
    EXPRESSIONS: ClassVar[dict[str, bool]] = {"value": False}  # field -> may it use outputs and derivatives?
    on: PartName
    value: ExprText
    output: Name | None = None


class Neumann(Strict):
    """du/dn = value on a boundary part (outward normal)."""

    kind: Literal["neumann"]
    EXPRESSIONS: ClassVar[dict[str, bool]] = {"value": False}
    on: PartName
    value: ExprText
    output: Name | None = None


class Robin(Strict):
    """a*u + b*du/dn = value on a boundary part."""

    kind: Literal["robin"]
    EXPRESSIONS: ClassVar[dict[str, bool]] = {"a": False, "b": False, "value": False}
    on: PartName
    a: ExprText
    b: ExprText
    value: ExprText
    output: Name | None = None


class Periodic(Strict):
    """Outputs (default: all) and the listed derivatives equal at paired points of two parts
    that are translates of each other (left/right of an interval, rectangle or box)."""

    kind: Literal["periodic"]
    EXPRESSIONS: ClassVar[dict[str, bool]] = {}
    on: tuple[PartName, PartName]
    outputs: list[Name] = Field([], max_length=64)
    derivatives: list[DerivativeName] = Field([], max_length=64)


class Initial(Strict):
    """output (or its time derivative `derivative: u_t`) = value at the start time."""

    kind: Literal["initial"]
    EXPRESSIONS: ClassVar[dict[str, bool]] = {"value": False}
    value: ExprText
    output: Name | None = None
    derivative: DerivativeName | None = None


class Operator(Strict):
    """Any expression of inputs, outputs and derivatives = 0 on a boundary part (or `initial`)."""

    kind: Literal["operator"]
    EXPRESSIONS: ClassVar[dict[str, bool]] = {"residual": True}
    on: PartName
    residual: ExprText


class Data(Strict):
    """Observed values of outputs (or derived quantities) at given points, from a .npz, .csv or .mat
    file. `columns` maps every input and each observed name to its column (array) name in the file."""

    kind: Literal["data"]
    EXPRESSIONS: ClassVar[dict[str, bool]] = {}
    file: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    columns: dict[Name, ColumnName] = Field(min_length=2, max_length=64)


Condition = Annotated[Union[Dirichlet, Neumann, Robin, Periodic, Initial, Operator, Data], Field(discriminator="kind")]
CONDITION_KINDS = ("dirichlet", "neumann", "robin", "periodic", "initial", "operator", "data")


class Parameter(Strict):
    """An unknown scalar learned with the network (inverse problems)."""

    initial: Float
    positive: StrictBool = False  # trained through log: always > 0
    bounds: Bounds | None = None  # trained through a sigmoid: always inside
    true_value: Float | None = None  # reported beside the identified value

    @model_validator(mode="after")
    def _consistent(self):
        if self.positive and self.bounds is not None:
            raise ValueError("give positive or bounds, not both")
        if self.positive and not self.initial > 0:
            raise ValueError("a positive parameter needs initial > 0")
        if self.bounds is not None:
            lo, hi = self.bounds
            if not lo < hi:
                raise ValueError(f"bounds [{lo}, {hi}] must be increasing")
            if not lo < self.initial < hi:
                raise ValueError(f"initial {self.initial} must lie strictly inside bounds [{lo}, {hi}]")
        return self


class Adapt(Strict):
    """Every `every` steps (Adam's; L-BFGS's too with `lbfgs`) the points of `terms` change (training/adapt.py): `resample` draws
    a fresh block of a new global sequence; `rad` draws the term's points from `candidates` fresh
    points with probability proportional to |r|^k / mean |r|^k + c; `rar` adds the `add` candidates
    of largest residual. Counts are per rank under weak scaling, global under strong, like points."""

    method: Literal["resample", "rad", "rar"]
    every: PositiveInt = Field(le=MAX_STEPS)
    terms: list[TermName] = Field([], max_length=64)  # default: the pde terms (resample: every sampled term)
    candidates: Annotated[PositiveInt, Field(le=MAX_POINTS)] | None = None  # rad, rar; default 8x the points
    k: Float = Field(1.0, ge=0, le=MAX_RAD_EXPONENT)
    c: Float = Field(1.0, ge=0, le=MAX_RAD_OFFSET)
    add: Annotated[PositiveInt, Field(le=MAX_POINTS)] | None = None  # rar: points added each round
    lbfgs: StrictBool = False  # rounds go on through L-BFGS too, each restarting its history

    @model_validator(mode="after")
    def _method_fields(self):
        if self.method == "rar" and self.add is None:
            raise ValueError("rar needs add: the points added each round")
        if self.method != "rar" and self.add is not None:
            raise ValueError(f"add is for rar, not {self.method}")
        if self.method == "resample" and self.candidates is not None:
            raise ValueError("resample draws no candidates; drop candidates")
        return self


class Sampling(Strict):
    method: Literal["sobol", "halton", "hammersley", "pseudo-random", "uniform", "lhs"] = "sobol"
    points: dict[TermName, Annotated[PositiveInt, Field(le=MAX_POINTS)]]
    adapt: Adapt | None = None


class FourierFeatures(Strict):
    """The first layer sees [cos(2 pi x B), sin(2 pi x B)] of the rescaled non-periodic inputs x, with B
    fixed, drawn N(0, scale^2) from training.seed (model/embeddings.py): frequencies an MLP learns slowly."""

    features: PositiveInt = Field(64, le=MAX_WIDTH)  # columns of B: the first layer reads 2 * features
    scale: Float = Field(1.0, gt=0, le=MAX_FOURIER_SCALE)


class PeriodicInput(Strict):
    """A space input replaced by cos and sin of 2 pi k (x - lo) / period, k = 1..harmonics: the
    output and all its derivatives are exactly periodic in it."""

    period: Float | None = Field(None, gt=0, le=MAX_GEOMETRY_COORDINATE)  # None: the domain's width along it
    harmonics: PositiveInt = Field(1, le=MAX_HARMONICS)


class Network(Strict):
    hidden: list[Annotated[PositiveInt, Field(le=MAX_WIDTH)]] = Field(min_length=1, max_length=MAX_LAYERS)
    activation: Literal["tanh", "sin", "sigmoid", "gelu", "swish", "softplus"] = "tanh"
    initializer: Literal["glorot_normal", "glorot_uniform", "he_normal", "lecun_normal"] = "glorot_normal"
    dtype: Literal["float32", "float64"] = "float32"
    # Hard constraints: output -> expression of the inputs and the raw network output,
    # e.g. u: -sin(pi*x) + t*(1 - x**2)*u makes u(x, 0) and u(+-1, t) exact.
    output_transform: dict[Name, ExprText] = {}
    fourier_features: FourierFeatures | None = None
    periodic: dict[Name, PeriodicInput] = Field({}, max_length=3)  # space variable -> its embedding


class Schedule(Strict):
    kind: Literal["constant", "exponential", "cosine", "step"] = "constant"
    decay_rate: Float = Field(0.9, gt=0, le=1)
    decay_steps: PositiveInt = Field(1000, le=MAX_STEPS)
    final_fraction: Float = Field(0.01, ge=0, le=1)  # cosine: lr ends at this fraction


class Adam(Strict):
    steps: Int = Field(ge=0, le=MAX_STEPS)
    learning_rate: Float = Field(1e-3, gt=0, le=MAX_LEARNING_RATE)
    schedule: Schedule = Schedule()
    beta1: Float = Field(0.9, ge=0, lt=1)
    beta2: Float = Field(0.999, ge=0, lt=1)
    epsilon: Float = Field(1e-8, gt=0, le=1)


class LBFGS(Strict):
    steps: Int = Field(ge=0, le=MAX_STEPS)
    history: PositiveInt = Field(50, le=MAX_HISTORY)
    tolerance: Float = Field(1e-12, ge=0)  # stop when the gradient's max-norm falls below (finite)


class Checkpoint(Strict):
    """Periodic training-state checkpoints: at each multiple of `every_steps`, and after a logged
    chunk when `every_minutes` passed since the last one; the newest `keep` are kept."""

    every_steps: PositiveInt = Field(1000, le=MAX_STEPS)
    every_minutes: Float = Field(10.0, gt=0, le=MAX_CHECKPOINT_MINUTES)
    keep: PositiveInt = Field(3, le=MAX_CHECKPOINTS_KEPT)


class LossBalancing(Strict):
    """Loss weights from the all-reduced per-term gradients every `every` Adam steps (training/balance.py):
    `grad_norm` (Wang, Sankaran, Wang & Perdikaris 2023) sets each weight to sum_j |g_j| / |g_i|;
    `annealing` (Wang, Teng & Perdikaris 2021) sets each condition's to max |g_pde| / mean |g_i|.
    New weights are averaged in with `momentum`."""

    method: Literal["grad_norm", "annealing"]
    every: PositiveInt = Field(1000, le=MAX_STEPS)
    momentum: Float = Field(0.9, ge=0, lt=1)


class Causal(Strict):
    """Causal training (Wang, Sankaran & Perdikaris 2022): the pde term's residual, split in `chunks`
    time slices, is weighted by exp(-epsilon x the losses of the slices before), so later times count
    once earlier ones are fitted (training/causal.py)."""

    term: TermName | None = None  # default: the pde term (there must be one, or name it)
    chunks: PositiveInt = Field(32, le=MAX_CAUSAL_CHUNKS)
    epsilon: Float = Field(1.0, gt=0, le=MAX_CAUSAL_EPSILON)


class Training(Strict):
    seed: Int = Field(0, ge=0, le=MAX_SEED)
    adam: Adam
    lbfgs: LBFGS | None = None
    loss_weights: dict[TermName, Annotated[Float, Field(le=MAX_LOSS_WEIGHT)]] = {}
    log_every: PositiveInt = Field(100, le=MAX_STEPS)
    checkpoint: Checkpoint = Checkpoint()
    # A rank evaluates its points in micro-batches of at most `micro_batch` points (all terms
    # together), summing losses and gradients; or `memory_budget` (bytes a rank's training may
    # hold) picks the largest micro-batch that fits (spec/memory.py). Neither: the whole shard at once.
    loss_balancing: LossBalancing | None = None
    causal: Causal | None = None
    micro_batch: PositiveInt | None = Field(None, le=MAX_POINTS)
    memory_budget: Bytes | None = Field(None, ge=MIN_MEMORY_BUDGET, le=MAX_MEMORY_BUDGET)

    @model_validator(mode="after")
    def _one_batching(self):
        if self.micro_batch is not None and self.memory_budget is not None:
            raise ValueError("give micro_batch or memory_budget, not both")
        return self


class Reference(Strict):
    """Exactly one source of truth; `grid` says where errors and predictions are evaluated."""

    exact: ExprText | dict[Name, ExprText] | None = None
    file: str | None = None
    columns: dict[Name, ColumnName] = Field({}, max_length=64)  # name -> array/column in the file; default: same
    cole_hopf: dict[Literal["viscosity", "initial"], ExprText] | None = None
    grid: dict[Name, Annotated[Int, Field(ge=2, le=MAX_GRID_AXIS)]] = {}

    @model_validator(mode="after")
    def _one_source(self):
        given = [k for k in ("exact", "file", "cole_hopf") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of: exact, file, cole_hopf")
        return self


class Spec(Strict):
    name: TermName
    description: str = ""
    variables: Variables
    outputs: list[Name] = Field(min_length=1)
    constants: dict[Name, ExprText] = {}
    parameters: dict[Name, Parameter] = Field({}, max_length=64)
    # Expressions of the outputs and their derivatives (u: psi_y), which data can observe and the
    # reference can be compared on.
    derived: dict[Name, ExprText] = Field({}, max_length=64)
    geometry: Geometry
    time_domain: Bounds | None = None
    pde: dict[TermName, ExprText] = Field(min_length=1)
    conditions: dict[TermName, Condition] = {}
    sampling: Sampling
    network: Network
    training: Training
    scaling: Literal["weak", "strong"] = "weak"
    reference: Reference | None = None
