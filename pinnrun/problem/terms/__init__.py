"""Loss terms: one class per kind, each in its own file. A condition's `kind` in the
spec picks its class here; the PDE residual is the term every spec has."""

from pinnrun.problem.terms.data import Data
from pinnrun.problem.terms.dirichlet import Dirichlet
from pinnrun.problem.terms.initial import Initial
from pinnrun.problem.terms.neumann import Neumann
from pinnrun.problem.terms.operator import Operator
from pinnrun.problem.terms.periodic import Periodic
from pinnrun.problem.terms.robin import Robin

CONDITIONS = {cls.kind: cls for cls in (Dirichlet, Neumann, Robin, Periodic, Initial, Operator, Data)}
