"""The shape of a problem spec (types, ranges, allowed keys).

Cross-field rules (names in expressions, term names, geometry sides) live in
`validate.py`; this file only says what each field may hold.
"""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, StringConstraints, model_validator

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9]*$")]
TermName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]
ExprText = Union[str, float, int]  # YAML gives numbers for constant expressions
Bounds = tuple[float, float]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Variables(Strict):
    space: list[Name] = Field(min_length=1, max_length=3)
    time: Name | None = None


class Geometry(Strict):
    """Exactly one kind. More kinds (disk, polygon, CSG) slot in as further fields."""

    interval: Bounds | None = None
    rectangle: tuple[Bounds, Bounds] | None = None

    @model_validator(mode="after")
    def _one_kind(self):
        kinds = [k for k in ("interval", "rectangle") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of: interval, rectangle")
        boxes = [self.interval] if self.interval else list(self.rectangle)
        for lo, hi in boxes:
            if not lo < hi:
                raise ValueError(f"bounds [{lo}, {hi}] must be increasing")
        return self

    @property
    def kind(self) -> str:
        return "interval" if self.interval is not None else "rectangle"

    @property
    def box(self) -> list[Bounds]:
        return [self.interval] if self.interval is not None else list(self.rectangle)


class Condition(Strict):
    kind: Literal["dirichlet", "neumann", "initial"]
    value: ExprText
    on: Name | None = None  # boundary part: left/right (interval), + bottom/top (rectangle), boundary
    output: Name | None = None


class Sampling(Strict):
    method: Literal["sobol", "halton", "uniform", "lhs"] = "sobol"
    points: dict[TermName, PositiveInt]


class Network(Strict):
    hidden: list[PositiveInt] = Field(min_length=1)
    activation: Literal["tanh", "sin", "sigmoid", "gelu", "swish", "softplus"] = "tanh"
    initializer: Literal["glorot_normal", "glorot_uniform", "he_normal", "lecun_normal"] = "glorot_normal"
    dtype: Literal["float32", "float64"] = "float32"
    # Hard constraints: output -> expression of the inputs and the raw network output,
    # e.g. u: -sin(pi*x) + t*(1 - x**2)*u makes u(x, 0) and u(+-1, t) exact.
    output_transform: dict[Name, ExprText] = {}


class Schedule(Strict):
    kind: Literal["constant", "exponential", "cosine", "step"] = "constant"
    decay_rate: float = Field(0.9, gt=0, le=1)
    decay_steps: PositiveInt = 1000
    final_fraction: float = Field(0.01, ge=0, le=1)  # cosine: lr ends at this fraction


class Adam(Strict):
    steps: int = Field(ge=0)
    learning_rate: float = Field(1e-3, gt=0)
    schedule: Schedule = Schedule()
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    epsilon: float = Field(1e-8, gt=0)


class LBFGS(Strict):
    steps: int = Field(ge=0)
    history: PositiveInt = 50
    tolerance: float = Field(1e-12, ge=0)  # stop when the gradient's max-norm falls below


class Training(Strict):
    seed: int = 0
    adam: Adam
    lbfgs: LBFGS | None = None
    loss_weights: dict[TermName, float] = {}
    log_every: PositiveInt = 100


class Reference(Strict):
    """Exactly one source of truth; `grid` says where errors and predictions are evaluated."""

    exact: ExprText | dict[Name, ExprText] | None = None
    file: str | None = None
    cole_hopf: dict[Literal["viscosity", "initial"], ExprText] | None = None
    grid: dict[Name, Annotated[int, Field(ge=2, le=4096)]] = {}

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
    geometry: Geometry
    time_domain: Bounds | None = None
    pde: dict[TermName, ExprText] = Field(min_length=1)
    conditions: dict[TermName, Condition] = {}
    sampling: Sampling
    network: Network
    training: Training
    scaling: Literal["weak", "strong"] = "weak"
    reference: Reference | None = None
