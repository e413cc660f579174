"""The training engine (seqcore._engine), parametrized over every estimator.

Every estimator trains through one loop, so each behaviour is tested on
each of them: divergence (non-finite, and finite but exploding), Ctrl-C,
clipping, early stopping keeping the best weights, callbacks that stop
training, and schedules.  The optimizers' update rules are checked by hand
over several steps (no torch needed), the engine's schedule on a quadratic
whose steps are known in closed form, and the pinned numbers of
tests/pin_training.py show that the refactor changed no number.
"""

import os
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from seqcore import RNNClassifier, RNNForecaster, RNNRegressor, RNNSequenceLabeler, _engine
from seqcore.callbacks import EarlyStopping, ModelCheckpoint
from seqcore.nn import SGD, Adam, AdamW, RMSprop
from seqcore.nn._optim import OPTIMIZERS
from seqcore.nn._schedules import (CosineSchedule, ExponentialSchedule, PlateauSchedule,
                                   Schedule, get_schedule)
from seqcore.text import RNNLanguageModel, Seq2SeqTranslator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pin_training  # noqa: E402


# ------------------------------------------------------------------ the cases
def _classifier(**kw):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 6, 3))
    y = (X[:, :, 0].sum(1) > 0).astype(int)
    est = RNNClassifier(**{"cell": "gru", "hidden_size": 8, "max_iter": 4, "batch_size": 16,
                           "random_state": 0, **kw})
    return est, (X, y)


def _regressor(**kw):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 6, 2))
    y = X[:, :, 0].sum(1)
    est = RNNRegressor(**{"hidden_size": 8, "max_iter": 4, "batch_size": 16,
                          "random_state": 0, **kw})
    return est, (X, y)


def _forecaster(**kw):
    t = np.arange(60.0)
    y = 10 + np.sin(2 * np.pi * t / 6) + 0.05 * t
    est = RNNForecaster(**{"horizon": 3, "window": 6, "season": 1, "hidden_size": 8,
                           "max_iter": 4, "n_models": 1, "strategy": "recursive",
                           "early_stopping": False, "random_state": 0, **kw})
    return est, (y,)


def _language_model(**kw):
    est = RNNLanguageModel(**{"hidden_size": 8, "embedding_dim": 4, "sequence_length": 8,
                              "batch_size": 4, "max_iter": 4, "random_state": 0, **kw})
    return est, (["the cat sat on the mat. " * 12],)


def _translator(**kw):
    X, y = pin_training._dates(48, 0)
    est = Seq2SeqTranslator(**{"hidden_size": 8, "embedding_dim": 4, "max_iter": 4,
                               "batch_size": 16, "early_stopping": False, "random_state": 0,
                               **kw})
    return est, (X, y)


def _labeler(**kw):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(48, 10, 3))
    y = ["ab" if x[:5, 0].mean() > 0 else "ba" for x in X]
    est = RNNSequenceLabeler(**{"hidden_size": 8, "num_layers": 1, "max_iter": 4,
                                "batch_size": 16, "random_state": 0, **kw})
    return est, (X, y)


CASES = {"classifier": _classifier, "regressor": _regressor, "forecaster": _forecaster,
         "language_model": _language_model, "translator": _translator, "labeler": _labeler}
# the two whose validation set is built from the fit's own data
VALIDATING = ["classifier", "regressor", "language_model", "translator", "labeler"]


def _network(est):
    """The network the engine trained (the forecaster's is its regressor's)."""
    if isinstance(est, RNNForecaster):
        return est.regressors_[0].network_
    return est.network_


def _trained(est):
    return est.regressors_[0] if isinstance(est, RNNForecaster) else est


def _fit(make, **kw):
    est, data = make(**kw)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(*data)
    return est, [str(w.message) for w in caught], [w.category for w in caught]


class Recorder:
    """A callback that records the weights, the step count and the history
    after every epoch, and can act at a chosen epoch."""

    def __init__(self, at=None, action=None):
        self.at, self.action = at, action
        self.params, self.steps, self.histories = [], [], []

    def __call__(self, est, history):
        self.params.append(est.network_.flat_params.copy())
        self.steps.append(est.t_)
        self.histories.append(history)
        if self.at is not None and history["epoch"] == self.at:
            return self.action(est)
        return False


def _recorded(est):
    return _trained(est).callbacks_[0]


# ---------------------------------------------------------- pinned numbers
@pytest.mark.parametrize("name", list(pin_training.cases()))
def test_pinned_numbers_unchanged(name):
    """Loss curves and predictions equal those computed before the engine
    refactor: to the bit on the CPU that pinned them, else to 1e-5."""
    pins = np.load(pin_training.PINS)
    same_cpu = str(pins["cpu"]) == pin_training.cpu_signature()
    for key, value in pin_training.run(name).items():
        ref = pins[f"{name}/{key}"]
        if same_cpu:
            np.testing.assert_array_equal(value, ref, err_msg=f"{name}/{key}")
        else:
            np.testing.assert_allclose(value, ref, rtol=1e-5, atol=1e-6,
                                       err_msg=f"{name}/{key}")


# --------------------------------------------------------------- divergence
@pytest.mark.parametrize("name", list(CASES))
def test_non_finite_loss_restores_and_warns(name):
    est, messages, _ = _fit(CASES[name], learning_rate=1e37, clip_norm=None)
    assert any("training diverged" in m for m in messages), messages
    net = _network(est)
    assert np.isfinite(net.flat_params).all()
    assert not any("max_iter" in m for m in messages)


def _blow_up(est):
    est.network_.flat_params[:] *= 300.0   # as a far too large step would
    return False


@pytest.mark.parametrize("name", list(CASES))
def test_finite_explosion_warns_naming_the_learning_rate(name):
    rec = Recorder(at=1, action=_blow_up)
    est, messages, _ = _fit(CASES[name], callbacks=[rec], max_iter=6)
    exploded = [m for m in messages if "exploded" in m]
    assert exploded and "learning_rate" in exploded[0], messages
    assert not any("max_iter" in m for m in messages)
    trained = _trained(est)
    # stopped at the first exploded epoch; kept the weights of the lowest loss
    assert trained.n_iter_ == 2
    assert np.isfinite(trained.loss_curve_).all()
    assert trained.loss_curve_[1] > 10 * trained.loss_curve_[0]
    # the weights after epoch 1, recorded before the blow-up: the lowest loss
    np.testing.assert_array_equal(_network(est).flat_params, _recorded(est).params[0])


# ------------------------------------------------------------------- Ctrl-C
def _interrupt(est):
    raise KeyboardInterrupt


@pytest.mark.parametrize("name", list(CASES))
def test_ctrl_c_stops_cleanly_with_a_usable_model(name):
    if name == "forecaster":
        # several networks in one fit: Ctrl-C abandons the whole fit, and the
        # forecaster stays as it was (here: unfitted)
        est, data = CASES[name](callbacks=[Recorder(at=2, action=_interrupt)])
        with pytest.raises(KeyboardInterrupt):
            est.fit(*data)
        assert not hasattr(est, "regressors_")
        return
    est, messages, _ = _fit(CASES[name], callbacks=[Recorder(at=2, action=_interrupt)])
    assert any("interrupted" in m for m in messages), messages
    assert not any("max_iter" in m for m in messages)
    trained = _trained(est)
    assert trained.n_iter_ == 2
    assert np.isfinite(_network(est).flat_params).all()
    np.testing.assert_array_equal(_network(est).flat_params, _recorded(est).params[-1])


# ----------------------------------------------------------------- clipping
@pytest.mark.parametrize("name", list(CASES))
def test_clip_value_bounds_every_sgd_step(name):
    lr, c = 0.5, 1e-4
    est, _, _ = _fit(CASES[name], optimizer="sgd", momentum=0.0, learning_rate=lr,
                     clip_value=c, clip_norm=None, callbacks=[Recorder()], max_iter=2,
                     dtype="float64")   # float32 rounding of the weights is not the bound
    r = _recorded(est)
    steps = r.steps[1] - r.steps[0]
    moved = np.abs(r.params[1] - r.params[0]).max()
    assert 0 < moved <= steps * lr * c * (1 + 1e-3)


@pytest.mark.parametrize("name", list(CASES))
def test_clip_norm_bounds_every_sgd_step(name):
    lr, c = 0.5, 1e-3
    est, _, _ = _fit(CASES[name], optimizer="sgd", momentum=0.0, learning_rate=lr,
                     clip_norm=c, callbacks=[Recorder()], max_iter=2, dtype="float64")
    r = _recorded(est)
    steps = r.steps[1] - r.steps[0]
    moved = np.linalg.norm((r.params[1] - r.params[0]).astype(np.float64))
    assert 0 < moved <= steps * lr * c * (1 + 1e-3)


# ----------------------------------------------------------- early stopping
@pytest.mark.parametrize("name", VALIDATING)
def test_early_stopping_keeps_the_best_weights(name):
    kw = {"early_stopping": True, "n_iter_no_change": 2, "max_iter": 8}
    if name == "translator":
        kw["validation_fraction"] = 0.25
    est, messages, _ = _fit(CASES[name], callbacks=[Recorder()], **kw)
    r = _recorded(est)
    scores = est.validation_scores_
    best = int(np.argmax(scores))
    np.testing.assert_array_equal(_network(est).flat_params, r.params[best])
    assert est.best_validation_score_ == max(scores)


@pytest.mark.parametrize("name", list(CASES))
def test_a_callback_stops_training(name):
    est, messages, categories = _fit(
        CASES[name], callbacks=[Recorder(at=2, action=lambda est: True)], max_iter=10)
    assert _trained(est).n_iter_ == 2
    assert ConvergenceWarning not in categories


@pytest.mark.parametrize("name", VALIDATING)
def test_early_stopping_callback_restores_its_best(name):
    """EarlyStopping on the training loss: stops after `patience` epochs
    without improvement and puts back the weights of its best epoch."""
    cb = EarlyStopping(monitor="loss", patience=1, min_delta=1e9)   # never improves
    est, _, _ = _fit(CASES[name], callbacks=[cb, Recorder()], max_iter=10)
    trained = _trained(est)
    es, rec = trained.callbacks_
    assert es.stopped_epoch_ == 2 and trained.n_iter_ == 2
    np.testing.assert_array_equal(_network(est).flat_params, rec.params[0])
    assert cb.stopped_epoch_ is None   # the parameter itself is never touched


def test_model_checkpoint_writes_the_best(tmp_path):
    import pickle
    path = tmp_path / "best.pkl"
    est, data = _regressor(callbacks=[ModelCheckpoint(path, monitor="loss")], max_iter=3)
    est.fit(*data)
    assert est.callbacks_[0].n_saved_ >= 1
    with open(path, "rb") as f:
        saved = pickle.load(f)
    assert np.isfinite(saved.predict(data[0][:4])).all()


def test_callbacks_must_be_callable():
    est, data = _regressor(callbacks=[3])
    with pytest.raises(TypeError, match="callable"):
        est.fit(*data)


# ---------------------------------------------------------------- schedules
@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("schedule", ["exponential", "cosine", ExponentialSchedule(0.5)])
def test_schedules_set_each_epochs_rate_as_documented(name, schedule):
    est, _, _ = _fit(CASES[name], learning_rate=0.01, learning_rate_schedule=schedule,
                     max_iter=4)
    trained = _trained(est)
    sched = get_schedule(schedule)
    hist = {"loss": [], "validation_score": [], "max_iter": trained.max_iter}
    expected = [sched.learning_rate(e, 0.01, hist) for e in range(trained.n_iter_)]
    np.testing.assert_allclose(trained.learning_rates_, expected, rtol=1e-15)
    assert trained.learning_rates_[-1] < 0.01


class _Quadratic(_engine.Task):
    """loss = 0.5 ||p||^2 over one batch: the gradient is p itself, so SGD
    with rate lr_e multiplies p by (1 - lr_e) in epoch e."""

    has_validation = False

    def __init__(self, n=5):
        import threading

        class Net:
            pass
        self.network = Net()
        self.network.flat_params = np.linspace(1.0, 2.0, n)
        self.network.flat_grads = np.zeros(n)
        self.network.param_lock = threading.Lock()

    def batches(self):
        return [0]

    def loss_and_gradient(self, batch):
        p = self.network.flat_params
        self.network.flat_grads[:] = p
        return 0.5 * float(p @ p), 1.0


class _Est:
    def __init__(self, schedule, base):
        self.learning_rate, self.learning_rate_schedule = base, schedule
        self.clip_norm = self.clip_value = None
        self.tol, self.n_iter_no_change, self.verbose, self.max_iter = 0.0, 100, 0, 6
        _engine.start_history(self)


@pytest.mark.parametrize("schedule, rates", [
    (None, [0.1] * 6),
    (ExponentialSchedule(0.5), [0.1 * 0.5 ** e for e in range(6)]),
    (CosineSchedule(period=4), [0.1 * (1 + np.cos(np.pi * min(e, 4) / 4)) / 2
                                for e in range(6)]),
])
def test_engine_applies_the_schedule_to_the_steps(schedule, rates):
    task, est = _Quadratic(), _Est(schedule, 0.1)
    p0 = task.network.flat_params.copy()
    opt = SGD(task.network.flat_params, task.network.flat_grads, lr=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _engine.train(est, task, opt, epochs=6)
    np.testing.assert_allclose(task.network.flat_params, p0 * np.prod([1 - r for r in rates]),
                               rtol=1e-14)


def test_plateau_schedule_halves_after_patience():
    s = PlateauSchedule(factor=0.5, patience=2)
    hist = {"loss": [1.0, 0.5, 0.5, 0.5, 0.5, 0.5], "validation_score": []}
    rates = [s.learning_rate(e, 1.0, {**hist, "loss": hist["loss"][:e]}) for e in range(7)]
    assert rates == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.25]


def test_bad_schedules_are_refused():
    with pytest.raises(ValueError, match="learning_rate_schedule"):
        RNNRegressor(learning_rate_schedule="linear").fit(np.zeros((4, 3, 1)), np.arange(4.0))
    with pytest.raises(ValueError, match="gamma"):
        ExponentialSchedule(0.0)


# ------------------------------------------------------ optimizers by hand
def _grads(n_steps, size, seed=0):
    return np.random.default_rng(seed).normal(size=(n_steps, size))


def test_sgd_nesterov_momentum_by_hand():
    """Three steps of SGD with momentum 0.9, Nesterov, weight decay 0.1."""
    p0 = np.array([1.0, -2.0, 0.5])
    G = _grads(3, 3)
    p, g = p0.copy(), np.zeros(3)
    opt = SGD(p, g, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)
    q, buf = p0.copy(), None
    for t in range(3):
        g[:] = G[t]
        opt.step()
        d = G[t] + 0.1 * q
        buf = d if buf is None else 0.9 * buf + d
        q = q - 0.1 * (d + 0.9 * buf)
        np.testing.assert_allclose(p, q, rtol=1e-15, atol=1e-15)
    # without momentum the same steps differ: momentum really acts
    plain = p0.copy()
    for t in range(3):
        plain -= 0.1 * (G[t] + 0.1 * plain)
    assert np.abs(plain - p).max() > 1e-3


def test_adam_by_hand():
    p0 = np.array([1.0, -2.0, 0.5, 3.0])
    G = _grads(4, 4, 1)
    p, g = p0.copy(), np.zeros(4)
    opt = Adam(p, g, lr=0.01, betas=(0.9, 0.99), eps=1e-8)
    q, m, v = p0.copy(), np.zeros(4), np.zeros(4)
    for t in range(1, 5):
        g[:] = G[t - 1]
        opt.step()
        m = 0.9 * m + 0.1 * G[t - 1]
        v = 0.99 * v + 0.01 * G[t - 1] ** 2
        q = q - 0.01 / (1 - 0.9 ** t) * m / (np.sqrt(v) / np.sqrt(1 - 0.99 ** t) + 1e-8)
        np.testing.assert_allclose(p, q, rtol=1e-13)


def test_adamw_by_hand():
    p0 = np.array([1.0, -2.0, 0.5])
    G = _grads(3, 3, 2)
    p, g = p0.copy(), np.zeros(3)
    opt = AdamW(p, g, lr=0.01, weight_decay=0.1)
    q, m, v = p0.copy(), np.zeros(3), np.zeros(3)
    for t in range(1, 4):
        g[:] = G[t - 1]
        opt.step()
        q = q * (1 - 0.01 * 0.1)
        m = 0.9 * m + 0.1 * G[t - 1]
        v = 0.999 * v + 0.001 * G[t - 1] ** 2
        q = q - 0.01 / (1 - 0.9 ** t) * m / (np.sqrt(v) / np.sqrt(1 - 0.999 ** t) + 1e-8)
        np.testing.assert_allclose(p, q, rtol=1e-13)


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_rmsprop_by_hand(momentum):
    p0 = np.array([1.0, -2.0, 0.5])
    G = _grads(3, 3, 3)
    p, g = p0.copy(), np.zeros(3)
    opt = RMSprop(p, g, lr=0.01, alpha=0.9, momentum=momentum, weight_decay=0.01)
    q, v, buf = p0.copy(), np.zeros(3), np.zeros(3)
    for t in range(3):
        g[:] = G[t]
        opt.step()
        d = G[t] + 0.01 * q
        v = 0.9 * v + 0.1 * d * d
        if momentum:
            buf = momentum * buf + d / (np.sqrt(v) + 1e-8)
            q = q - 0.01 * buf
        else:
            q = q - 0.01 * d / (np.sqrt(v) + 1e-8)
        np.testing.assert_allclose(p, q, rtol=1e-13)


@pytest.mark.parametrize("name", ["adamw", "rmsprop"])
def test_new_optimizers_match_torch(name):
    torch = pytest.importorskip("torch")
    cls = OPTIMIZERS[name][0]
    p0 = np.random.default_rng(4).normal(size=7)
    G = _grads(5, 7, 5)
    p, g = p0.copy(), np.zeros(7)
    kw = {"lr": 0.01, "weight_decay": 0.05}
    if name == "rmsprop":
        kw["momentum"] = 0.3
    ours = cls(p, g, **kw)
    tp = torch.nn.Parameter(torch.tensor(p0))
    theirs = (torch.optim.AdamW if name == "adamw" else torch.optim.RMSprop)([tp], **kw)
    for t in range(5):
        g[:] = G[t]
        ours.step()
        tp.grad = torch.tensor(G[t])
        theirs.step()
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_estimator_takes_every_optimizer(name, optimizer):
    est, messages, _ = _fit(CASES[name], optimizer=optimizer, max_iter=2)
    trained = _trained(est)
    assert type(trained._optimizer if hasattr(trained, "_optimizer") else None).__name__ \
        in (OPTIMIZERS[optimizer][0].__name__, "NoneType")
    assert np.isfinite(trained.loss_curve_).all() and len(trained.loss_curve_) == 2


def test_forecaster_refuses_bad_network_options_naming_itself():
    with pytest.raises(ValueError, match="RNNForecaster"):
        RNNForecaster(hidden_size=0).fit(np.arange(40.0))


# ------------------------------------------- found by the hostile review
def test_l2_penalty_is_not_taken_for_an_explosion():
    """The explosion check compares the data loss with the first batch's,
    not the reported loss with its L2 penalty (alpha)."""
    est, messages, _ = _fit(_classifier, alpha=10.0, hidden_size=64, max_iter=3)
    assert not any("exploded" in m for m in messages), messages
    assert est.n_iter_ == 3


class _BadSchedule(Schedule):
    def learning_rate(self, epoch, base_lr, history):
        return -1.0


def test_a_schedule_giving_a_bad_rate_is_refused():
    est, data = _regressor(learning_rate_schedule=_BadSchedule())
    with pytest.raises(ValueError, match="schedule"):
        est.fit(*data)


def test_partial_fit_continues_the_callbacks_state():
    stop = EarlyStopping(monitor="loss", patience=2, min_delta=1e9)
    est, (X, y) = _regressor(callbacks=[stop])
    for _ in range(3):
        est.partial_fit(X, y)
    assert est.callbacks_[0].stopped_epoch_ == 3   # counted across the calls
    assert stop.stopped_epoch_ is None


def test_forecaster_refuses_two_fits_at_once_and_predicts_old_or_new():
    import threading

    t = np.arange(80.0)
    y = 10 + np.sin(2 * np.pi * t / 6) + 0.05 * t
    kw = dict(horizon=3, window=6, season=1, hidden_size=8, max_iter=30, n_models=1,
              early_stopping=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = RNNForecaster(**kw).fit(y)
        new = RNNForecaster(**kw).fit(3 * y).predict(3)
    old = f.predict(3)
    errors, seen = [], []

    def refit():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                f.fit(3 * y)
        except RuntimeError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=refit) for _ in range(2)]
    for th in threads:
        th.start()
    while any(th.is_alive() for th in threads):
        seen.append(f.predict(3))
    for th in threads:
        th.join()
    assert len(errors) == 1 and "another thread" in str(errors[0])
    for p in seen:
        assert np.array_equal(p, old) or np.array_equal(p, new), p
    np.testing.assert_array_equal(f.predict(3), new)


@pytest.mark.parametrize("change", [{"hidden_size": 6}, {"loss": "poisson"},
                                    {"loss": "pinball", "quantiles": (0.1, 0.9)}])
def test_warm_start_refuses_a_changed_network(change):
    est, (X, y) = _regressor(warm_start=True, max_iter=2)
    est.fit(X, np.abs(y))
    est.set_params(**change)
    with pytest.raises(ValueError, match="changed since the network was fit"):
        est.fit(X, np.abs(y))
    est.set_params(warm_start=False)
    est.fit(X, np.abs(y))                     # a new network: fine


def test_a_schedule_at_rate_zero_stops_with_a_warning_instead_of_idling():
    """Cosine over max_iter reaches 0 once partial_fit's epochs pass the
    period: training says so and stops instead of running epochs that
    cannot change the weights."""
    est, (X, y) = _regressor(learning_rate_schedule="cosine", max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.partial_fit(X, y)
        est.partial_fit(X, y)
    before = est.network_.flat_params.copy()
    with pytest.warns(ConvergenceWarning, match="rate of 0 from epoch 2"):
        est.partial_fit(X, y)
    np.testing.assert_array_equal(est.network_.flat_params, before)
