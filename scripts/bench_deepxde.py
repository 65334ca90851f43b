#!/usr/bin/env python3
"""DeepXDE peer benchmark: DeepXDE's own Burgers example (examples/pinn_forward/Burgers.py).

Runs inside benchmarks/.venv-deepxde (made by scripts/bench_deepxde.sh) with the
TensorFlow 2 backend of DeepXDE; it never imports pinnrun.

The problem, network and optimisers are those of DeepXDE's example:
  u_t + u u_x - (0.01/pi) u_xx = 0 on [-1, 1] x [0, 0.99], u(+-1, t) = 0,
  u(x, 0) = -sin(pi x); TimePDE with 2540 domain, 80 boundary, 160 initial points;
  FNN [2] + [20]*3 + [1], tanh, Glorot normal; Adam lr 1e-3; then L-BFGS with
  DeepXDE's default options (tfp.optimizer.lbfgs_minimize in this backend).

Modes
  --mode steps --steps N   Adam only, N steps. Steady steps/s is timed from the end of
                           step --warmup to the end of step N with a DeepXDE callback
                           (on_batch_end), so graph tracing and the first steps are left
                           out; DeepXDE's own loss evaluation every --display-every steps
                           (1000, as in the example) stays inside the timed window, as it
                           does when the example runs. The L2 relative error on the
                           reference grid is taken after step N.
  --mode full              The full example: Adam 15,000 steps, then model.compile("L-BFGS")
                           and model.train() with DeepXDE's default L-BFGS options.

Backend: DDE_BACKEND=tensorflow (the default, the TF2 backend) or tensorflow.compat.v1, the
only backend with DeepXDE's own data-parallel mode: started under Horovod's launcher
(`bench_deepxde.sh --parallel N` runs `horovodrun -np N`), DeepXDE trains weak-scaled with
its num_domain/num_boundary points per rank, pseudo-random points (its parallel mode allows
no other) and hvd.DistributedOptimizer; each rank writes --out with `.rank<r>` appended.
compat.v1 runs use pseudo-random points alone too, so the two compare like with like.

Timings are wall-clock (time.perf_counter). Every number, the versions and the
thread settings go to --out as JSON and a summary is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

T_PROCESS0 = time.perf_counter()


def parse_args(argv=None):
    cores = len(os.sched_getaffinity(0))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("steps", "full"), required=True)
    p.add_argument("--steps", type=int, default=None, help="steps mode: number of Adam steps (required there)")
    p.add_argument(
        "--adam-steps", type=int, default=15000, help="full mode: Adam steps before L-BFGS (DeepXDE's example: 15000)"
    )
    p.add_argument(
        "--lbfgs-maxiter",
        type=int,
        default=None,
        help="full mode: override DeepXDE's L-BFGS maxiter (default: DeepXDE's own, 15000); "
        "only for quick checks, the benchmark leaves it unset",
    )
    p.add_argument(
        "--warmup", type=int, default=1000, help="Adam steps excluded from the steady steps/s timing (default 1000)"
    )
    p.add_argument(
        "--display-every", type=int, default=1000, help="DeepXDE's display_every for Adam (example default 1000)"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=cores,
        help=f"TensorFlow intra- and inter-op threads (default: cores available = {cores}, "
        "as pinnrun uses for a single rank)",
    )
    p.add_argument("--intra", type=int, default=None, help="intra-op threads (default: --threads)")
    p.add_argument("--inter", type=int, default=None, help="inter-op threads (default: --threads)")
    p.add_argument(
        "--seed", type=int, default=None, help="dde.config.set_random_seed(SEED); default: unseeded, as the example"
    )
    p.add_argument(
        "--reference",
        default="/work/shared/reference/deepxde_Burgers.npz",
        help="DeepXDE's Burgers.npz (keys t, x, usol[x, t])",
    )
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--quiet", action="store_true", help="DeepXDE verbose=0 (no loss table)")
    a = p.parse_args(argv)
    if a.mode == "steps":
        if a.steps is None:
            p.error("--mode steps needs --steps N")
        if a.steps <= a.warmup:
            p.error(f"--steps ({a.steps}) must be larger than --warmup ({a.warmup})")
    elif a.adam_steps <= a.warmup:
        p.error(f"--adam-steps ({a.adam_steps}) must be larger than --warmup ({a.warmup})")
    a.intra = a.threads if a.intra is None else a.intra
    a.inter = a.threads if a.inter is None else a.inter
    a.cores = cores
    return a


ARGS = parse_args()
if not os.path.exists(ARGS.reference):
    sys.exit(f"bench_deepxde: reference file not found: {ARGS.reference} (pass --reference)")

os.environ.setdefault("DDE_BACKEND", "tensorflow")
BACKENDS = ("tensorflow", "tensorflow.compat.v1")
if os.environ["DDE_BACKEND"] not in BACKENDS:
    sys.exit(f"bench_deepxde: DDE_BACKEND must be one of {BACKENDS} (got {os.environ['DDE_BACKEND']!r})")
if os.environ["DDE_BACKEND"] != "tensorflow" and ARGS.mode != "steps":
    sys.exit("bench_deepxde: the tensorflow.compat.v1 backend is measured in --mode steps only")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# Threads must be set before TensorFlow creates its context (DeepXDE's import may do so).
tf.config.threading.set_intra_op_parallelism_threads(ARGS.intra)
tf.config.threading.set_inter_op_parallelism_threads(ARGS.inter)

import deepxde as dde  # noqa: E402
from deepxde.backend import backend_name  # noqa: E402

if backend_name != os.environ["DDE_BACKEND"]:
    sys.exit(f"bench_deepxde: DeepXDE loaded backend {backend_name!r}, expected {os.environ['DDE_BACKEND']!r}")
COMPAT = backend_name == "tensorflow.compat.v1"

T_IMPORTED = time.perf_counter()


def versions():
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in (
        "deepxde",
        "tensorflow-cpu",
        "tensorflow",
        "tensorflow-probability",
        "tf-keras",
        "keras",
        "numpy",
        "scipy",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    out["tf.__version__"] = tf.__version__
    out["all"] = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    return out


# ---- DeepXDE's example, unchanged in substance -------------------------------------


def gen_testdata(path):
    data = np.load(path, allow_pickle=False)
    t, x, exact = data["t"], data["x"], data["usol"].T
    xx, tt = np.meshgrid(x, t)
    X = np.vstack((np.ravel(xx), np.ravel(tt))).T
    y = exact.flatten()[:, None]
    return X, y


def pde(x, y):
    dy_x = dde.grad.jacobian(y, x, i=0, j=0)
    dy_t = dde.grad.jacobian(y, x, i=0, j=1)
    dy_xx = dde.grad.hessian(y, x, i=0, j=0)
    return dy_t + y * dy_x - 0.01 / np.pi * dy_xx


def build_model():
    geom = dde.geometry.Interval(-1, 1)
    timedomain = dde.geometry.TimeDomain(0, 0.99)
    geomtime = dde.geometry.GeometryXTime(geom, timedomain)
    bc = dde.icbc.DirichletBC(geomtime, lambda x: 0, lambda _, on_boundary: on_boundary)
    ic = dde.icbc.IC(geomtime, lambda x: -np.sin(np.pi * x[:, 0:1]), lambda _, on_initial: on_initial)
    extra = {"train_distribution": "pseudo"} if COMPAT else {}  # its data-parallel mode takes nothing else
    data = dde.data.TimePDE(geomtime, pde, [bc, ic], num_domain=2540, num_boundary=80, num_initial=160, **extra)
    net = dde.nn.FNN([2] + [20] * 3 + [1], "tanh", "Glorot normal")
    return dde.Model(data, net), data


# ---- measurement helpers -------------------------------------------------------------


class StepClock(dde.callbacks.Callback):
    """Wall-clock time at the end of chosen training steps (train_state.step)."""

    def __init__(self, marks):
        super().__init__()
        self.marks = set(marks)
        self.times = {}

    def on_batch_end(self):
        step = int(self.model.train_state.step)
        if step in self.marks:
            self.times[step] = time.perf_counter()


def l2_error(model, X, y):
    t0 = time.perf_counter()
    y_pred = model.predict(X)
    err = float(dde.metrics.l2_relative_error(y, y_pred))
    return err, time.perf_counter() - t0


def losses(train_state):
    lt = np.asarray(train_state.loss_train, dtype=float)
    return {"loss_train_terms": lt.tolist(), "loss_train_sum": float(lt.sum())}


def run_adam(model, steps, args):
    """model.train(iterations=steps) with Adam; returns timing and loss numbers."""
    start = int(model.train_state.step)
    clock = StepClock({start + args.warmup, start + steps})
    t0 = time.perf_counter()
    model.train(iterations=steps, display_every=args.display_every, callbacks=[clock], verbose=0 if args.quiet else 1)
    t1 = time.perf_counter()
    a, b = clock.times[start + args.warmup], clock.times[start + steps]
    steady = (steps - args.warmup) / (b - a)
    return {
        "steps": steps,
        "train_call_s": t1 - t0,  # whole model.train(): tracing, first steps, tests
        "steps_per_s_whole_call": steps / (t1 - t0),
        "warmup_steps": args.warmup,
        "steady_window_steps": steps - args.warmup,
        "steady_window_s": b - a,
        "steps_per_s": steady,  # the headline number
        "ms_per_step": 1e3 / steady,
        "compile_and_warmup_s": a - t0,
        **losses(model.train_state),
    }


def run_lbfgs(model, args):
    """model.compile("L-BFGS"); model.train() exactly as the example, with the optimiser's
    result object captured (DeepXDE's TF2 backend drops it) to count iterations and
    function evaluations."""
    if args.lbfgs_maxiter is not None:
        dde.optimizers.set_LBFGS_options(maxiter=args.lbfgs_maxiter)
    opts = dict(dde.optimizers.config.LBFGS_options)
    t_c0 = time.perf_counter()
    model.compile("L-BFGS")
    compile_s = time.perf_counter() - t_c0

    calls = []
    inner = model.train_step

    def recording_train_step(*a, **kw):
        res = inner(*a, **kw)
        calls.append(res)
        return res

    model.train_step = recording_train_step
    step0 = int(model.train_state.step)
    t0 = time.perf_counter()
    model.train(verbose=0 if args.quiet else 1)
    train_s = time.perf_counter() - t0
    steps_counted = int(model.train_state.step) - step0

    iters = sum(int(r.num_iterations.numpy()) for r in calls)
    evals = sum(int(r.num_objective_evaluations.numpy()) for r in calls)
    last = calls[-1] if calls else None
    return {
        "options": opts,
        "compile_s": compile_s,
        "train_call_s": train_s,  # model.train(): whole L-BFGS run
        "lbfgs_minimize_calls": len(calls),
        "iterations": iters,  # tfp num_iterations (L-BFGS updates)
        "objective_evaluations": evals,  # loss+gradient evaluations incl. line search
        "deepxde_steps_counted": steps_counted,  # what DeepXDE adds to train_state.step
        "iterations_per_s": iters / train_s if train_s > 0 else None,
        "evaluations_per_s": evals / train_s if train_s > 0 else None,
        "converged": bool(last.converged.numpy()) if last is not None else None,
        "failed": bool(last.failed.numpy()) if last is not None else None,
        "final_objective": float(last.objective_value.numpy()) if last is not None else None,
        **losses(model.train_state),
    }


def main(args):
    if args.seed is not None:
        dde.config.set_random_seed(args.seed)
    X, y = gen_testdata(args.reference)
    result = {
        "benchmark": "deepxde_burgers",
        "mode": args.mode,
        "command": [sys.executable] + sys.argv,
        "argv": sys.argv[1:],
        "reference": os.path.abspath(args.reference),
        "seed": args.seed,
        "versions": versions(),
        "dde_backend": backend_name,
        "train_distribution": "pseudo" if COMPAT else "Hammersley",
        "float": str(dde.config.default_float()),
        "threads": {
            "cores_available": args.cores,
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        },
        "host": platform.node(),
        "setting": {
            "layers": [2, 20, 20, 20, 1],
            "activation": "tanh",
            "init": "Glorot normal",
            "num_domain": 2540,
            "num_boundary": 80,
            "num_initial": 160,
            "adam_lr": 1e-3,
            "display_every": args.display_every,
        },
        "import_s": T_IMPORTED - T_PROCESS0,
    }
    t_setup0 = time.perf_counter()
    model, data = build_model()
    model.compile("adam", lr=1e-3)
    result["setup_s"] = time.perf_counter() - t_setup0
    result["train_points"] = int(len(data.train_x))

    if args.mode == "steps":
        result["adam"] = run_adam(model, args.steps, args)
        err, eval_s = l2_error(model, X, y)
        result["adam"]["l2_relative_error"] = err
        result["steps"] = args.steps
        result["steps_per_s"] = result["adam"]["steps_per_s"]
        result["l2_relative_error"] = err
        result["eval_s"] = eval_s
    else:
        t_w0 = time.perf_counter()
        result["adam"] = run_adam(model, args.adam_steps, args)
        err_adam, eval_adam_s = l2_error(model, X, y)  # extra, not part of the example: kept out of wall time
        result["adam"]["l2_relative_error"] = err_adam
        result["lbfgs"] = run_lbfgs(model, args)
        t_w1 = time.perf_counter()
        err, eval_s = l2_error(model, X, y)
        result["l2_relative_error"] = err
        result["eval_s"] = eval_s
        # Wall time of the example from model construction to the end of L-BFGS (what a
        # user waits for after the imports), less our own mid-run L2 evaluation.
        result["train_wall_s"] = (t_w1 - t_w0) - eval_adam_s
        result["wall_s"] = result["setup_s"] + result["train_wall_s"]
        result["wall_s_with_import"] = result["wall_s"] + result["import_s"]
        result["adam_s"] = result["adam"]["train_call_s"]
        result["lbfgs_s"] = result["lbfgs"]["train_call_s"]
    result["process_s"] = time.perf_counter() - T_PROCESS0
    return result


def summary(r):
    v = r["versions"]
    lines = [
        f"DeepXDE {v.get('deepxde')} / TensorFlow {v.get('tf.__version__')} / "
        f"tfp {v.get('tensorflow-probability')} / Python {v['python']}; threads intra="
        f"{r['threads']['intra_op']} inter={r['threads']['inter_op']} (cores {r['threads']['cores_available']})"
    ]
    a = r["adam"]
    lines.append(
        f"Adam: {a['steps']} steps, {a['train_call_s']:.1f} s in model.train(); steady "
        f"{a['steps_per_s']:.1f} steps/s (steps {a['warmup_steps']}..{a['steps']}), "
        f"L2 rel. error after Adam {a['l2_relative_error']:.3e}"
    )
    if r["mode"] == "full":
        b = r["lbfgs"]
        lines.append(
            f"L-BFGS: {b['iterations']} iterations, {b['objective_evaluations']} loss+grad "
            f"evaluations in {b['train_call_s']:.1f} s = {b['iterations_per_s']:.2f} it/s "
            f"({b['evaluations_per_s']:.2f} evals/s); converged={b['converged']} failed={b['failed']}"
        )
        lines.append(f"wall (setup+Adam+L-BFGS): {r['wall_s']:.1f} s; final L2 rel. error {r['l2_relative_error']:.3e}")
    return "\n".join(lines)


if __name__ == "__main__":
    res = main(ARGS)
    res["ranks"], res["rank"] = dde.config.world_size, dde.config.rank
    text = json.dumps(res, indent=2, default=str)
    if ARGS.out and dde.config.world_size > 1:  # DeepXDE's data-parallel mode: every rank's own file
        ARGS.out = f"{ARGS.out}.rank{dde.config.rank}"
    if ARGS.out:
        d = os.path.dirname(os.path.abspath(ARGS.out))
        os.makedirs(d, exist_ok=True)
        with open(ARGS.out, "w") as f:
            f.write(text + "\n")
    print("\n[bench_deepxde] " + summary(res).replace("\n", "\n[bench_deepxde] "))
    if ARGS.out:
        print(f"[bench_deepxde] results: {ARGS.out}")
