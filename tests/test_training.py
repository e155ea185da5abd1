"""Optimizers, schedules, validation, early stopping, callbacks and partial_fit."""
import numpy as np
import pytest

import densecore
from densecore import Adam, Layer, Network, SGD, activations, kernels


def small_problem(seed=0, n=120, features=6, classes=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, features))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    return X, y


def small_network(seed=0, sizes=(6, 8, 3), dtype=np.float64):
    return Network.from_sizes(list(sizes), activation="tanh", init="glorot", dtype=dtype,
                              seed=seed)


def parameters(net):
    return [p.copy() for layer in net.layers for p in (layer.weights, layer.bias)]


# -- the optimizer kernel against numpy ---------------------------------------

def numpy_update(name, param, grad, slots, rate, alpha, scale, b1, b2, eps, nesterov, step):
    g = scale * grad + alpha * param
    if name == "adam":
        slots[0] = b1 * slots[0] + (1 - b1) * g
        slots[1] = b2 * slots[1] + (1 - b2) * g * g
        m_hat, s_hat = slots[0] / (1 - b1 ** step), slots[1] / (1 - b2 ** step)
        return param - rate * m_hat / (np.sqrt(s_hat) + eps)
    if b1 == 0:
        return param - rate * g
    slots[0] = b1 * slots[0] + g
    return param - rate * (g + b1 * slots[0] if nesterov else slots[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", [SGD(), SGD(0.9), SGD(0.8, nesterov=True), SGD(1.0),
                                       SGD(1.0, nesterov=True), Adam(),
                                       Adam(beta_1=0.0, beta_2=0.0)], ids=repr)
def test_optimizer_kernel_matches_numpy(dtype, optimizer):
    rng = np.random.default_rng(0)
    param = rng.standard_normal(17).astype(dtype)
    # Any momentum, but a second moment (Adam's slot 2) is never negative.
    slots = [rng.standard_normal(17).astype(dtype), rng.uniform(0, 1, 17).astype(dtype)]
    expected_param, expected_slots = param.astype(float), [s.astype(float) for s in slots]
    b1, b2, eps, nesterov = optimizer.hyper_parameters()
    for step in range(1, 4):
        grad = rng.standard_normal(17).astype(dtype)
        kernels.update(optimizer.code, param, grad, slots[0], slots[1], 0.01, 0.1, 0.5,
                       b1, b2, eps, nesterov, step)
        expected_param = numpy_update(optimizer.name, expected_param, grad.astype(float),
                                      expected_slots, 0.01, 0.1, 0.5, b1, b2, eps, nesterov,
                                      step)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    assert np.isfinite(expected_param).all()
    np.testing.assert_allclose(param, expected_param, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", [SGD(), SGD(0.9), SGD(0.8, nesterov=True), Adam(),
                                       densecore.AdamW()], ids=repr)
def test_optimizer_kernel_updates_each_parameter_alone(dtype, optimizer):
    # The update loops vectorise: a vector's lanes and the scalar tail after them
    # must give every parameter the bits it gets in a call of its own.
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(37).astype(dtype) for _ in range(3)]
    arrays.append(rng.uniform(0, 1, 37).astype(dtype))  # Adam's second moment
    param, grad, slot_1, slot_2 = arrays
    before, alone = param.copy(), [a.copy() for a in (param, slot_1, slot_2)]
    settings = (0.01, 0.1, 0.5, *optimizer.hyper_parameters(), 2)
    kernels.update(optimizer.code, param, grad, slot_1, slot_2, *settings)
    for i in range(37):
        kernels.update(optimizer.code, alone[0][i:i + 1], grad[i:i + 1],
                       alone[1][i:i + 1], alone[2][i:i + 1], *settings)
    assert (param != before).all()
    np.testing.assert_array_equal(param, alone[0])
    np.testing.assert_array_equal(slot_1, alone[1])
    np.testing.assert_array_equal(slot_2, alone[2])


def test_optimizer_kernel_checks_sizes_and_step():
    a, b = np.zeros(3), np.zeros(2)
    with pytest.raises(ValueError, match="grad"):
        kernels.update(0, a, b, a, a, 0.1)
    with pytest.raises(ValueError, match="slot_1"):
        kernels.update(0, a, a, b, a, 0.1, beta_1=0.9)
    with pytest.raises(ValueError, match="step"):
        kernels.update(1, a, a, a, a, 0.1, beta_1=0.9, beta_2=0.99, step=0)


# -- parity with PyTorch --------------------------------------------------------

PARITY = [
    (SGD(), {"clip_norm": None}),
    (SGD(momentum=0.9), {"clip_norm": None}),
    (SGD(momentum=0.9, nesterov=True), {"clip_norm": None}),
    (Adam(beta_1=0.8, beta_2=0.99, epsilon=1e-7), {"clip_norm": None}),
    (Adam(), {"clip_norm": 0.5}),
    # The ends of the ranges: momentum without decay, moments without memory.
    (SGD(momentum=1.0, nesterov=True), {"clip_norm": None}),
    (Adam(beta_1=0.0, beta_2=0.0), {"clip_norm": None}),
]


# Each of densecore's activations as a torch.nn module (given torch.nn, which is
# imported only where torch is installed).
TORCH_ACTIVATIONS = {
    "identity": lambda nn: nn.Identity(),
    "relu": lambda nn: nn.ReLU(),
    "sigmoid": lambda nn: nn.Sigmoid(),
    "tanh": lambda nn: nn.Tanh(),
    "leaky_relu": lambda nn: nn.LeakyReLU(kernels.LEAKY_SLOPE),
    "softmax": lambda nn: nn.Softmax(dim=1),
    "elu": lambda nn: nn.ELU(),
    "exp": lambda nn: TorchExp(nn),
}


def TorchExp(nn):
    """torch.exp as a module: torch.nn has none."""
    class Exp(nn.Module):
        def forward(self, z):
            return z.exp()
    return Exp()


def torch_twin(torch, net, activation):
    """``(model, linears)``: a float64 torch.nn.Sequential with ``net``'s parameters,
    ``activation`` between its linear layers and logits out, and its linear layers."""
    modules = []
    for layer in net.layers:
        modules += [torch.nn.Linear(layer.input_size, layer.output_size),
                    TORCH_ACTIVATIONS[activation](torch.nn)]
    model = torch.nn.Sequential(*modules[:-1]).double()
    linears = [module for module in model if isinstance(module, torch.nn.Linear)]
    with torch.no_grad():
        for linear, layer in zip(linears, net.layers):
            linear.weight.copy_(torch.from_numpy(layer.weights))
            linear.bias.copy_(torch.from_numpy(layer.bias.ravel()))
    return model, linears


def torch_steps(torch, model, torch_optimizer, X, y, clip_norm=None):
    """PyTorch's steps on batches of 4 rows in order, as densecore's
    ``fit(epochs=1, batch_size=4, shuffle=False)`` takes them."""
    loss_function = torch.nn.CrossEntropyLoss()
    for start in range(0, len(X), 4):
        torch_optimizer.zero_grad()
        loss_function(model(torch.from_numpy(X[start:start + 4])),
                      torch.from_numpy(y[start:start + 4])).backward()
        if clip_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        torch_optimizer.step()


def assert_same_parameters(net, linears):
    """``net``'s weights and biases equal its torch twin's, to 1e-9."""
    for linear, layer in zip(linears, net.layers):
        np.testing.assert_allclose(layer.weights, linear.weight.detach().numpy(), rtol=0,
                                   atol=1e-9)
        np.testing.assert_allclose(layer.bias.ravel(), linear.bias.detach().numpy(), rtol=0,
                                   atol=1e-9)


def test_every_activation_has_a_torch_twin():
    assert set(TORCH_ACTIVATIONS) == set(activations.ACTIVATIONS)


@pytest.mark.parametrize("optimizer, options", PARITY, ids=repr)
def test_fifty_steps_match_pytorch(optimizer, options):
    torch = pytest.importorskip("torch")
    net = small_network(seed=1, sizes=(6, 10, 7, 3))
    X, y = small_problem(n=200)
    model, linears = torch_twin(torch, net, "tanh")
    alpha, rate = 0.01, 0.05
    groups = [{"params": [linear.weight for linear in linears], "weight_decay": alpha},
              {"params": [linear.bias for linear in linears], "weight_decay": 0.0}]
    if optimizer.name == "adam":
        torch_optimizer = torch.optim.Adam(groups, lr=rate, betas=(optimizer.beta_1, optimizer.beta_2),
                                           eps=optimizer.epsilon)
    else:
        torch_optimizer = torch.optim.SGD(groups, lr=rate, momentum=optimizer.momentum,
                                          nesterov=optimizer.nesterov)
    torch_steps(torch, model, torch_optimizer, X, y, options["clip_norm"])
    net.fit(X, y, epochs=1, batch_size=4, learning_rate=rate, shuffle=False,
            optimizer=optimizer, alpha=alpha, **options)
    assert_same_parameters(net, linears)


@pytest.mark.parametrize("kind", ["compiled", "numpy"])
@pytest.mark.parametrize("optimizer", [densecore.AdamW(), densecore.AdamW(
    beta_1=0.8, beta_2=0.99, epsilon=1e-7, weight_decay=0.3)], ids=repr)
def test_adamw_takes_pytorchs_fifty_steps(optimizer, kind):
    torch = pytest.importorskip("torch")
    net = small_network(seed=1, sizes=(6, 10, 7, 3))
    if kind == "numpy":  # the same network, its hidden tanh a Python callable
        tanh = (np.tanh, lambda z: 1 - np.tanh(z) ** 2)
        net = Network([Layer(layer.output_size, layer.input_size,
                             *(tanh if i < 2 else ("softmax",)),
                             init=lambda shape, rng, w=layer.weights: w.copy())
                       for i, layer in enumerate(net.layers)])
    X, y = small_problem(n=200)
    model, linears = torch_twin(torch, net, "tanh")
    rate = 0.05
    torch_optimizer = torch.optim.AdamW(model.parameters(), lr=rate,
                                        betas=(optimizer.beta_1, optimizer.beta_2),
                                        eps=optimizer.epsilon,
                                        weight_decay=optimizer.weight_decay)
    torch_steps(torch, model, torch_optimizer, X, y)
    net.fit(X, y, epochs=1, batch_size=4, learning_rate=rate, shuffle=False,
            optimizer=optimizer)
    assert_same_parameters(net, linears)


def test_adamw_takes_no_l2_penalty_beside_its_decay():
    X, y = small_problem()
    with pytest.raises(ValueError, match="decays the weights itself"):
        small_network().fit(X, y, optimizer="adamw", alpha=0.1)
    with pytest.raises(ValueError, match="weight_decay"):
        densecore.AdamW(weight_decay=-1)


@pytest.mark.parametrize("activation", TORCH_ACTIVATIONS)
def test_hidden_activations_train_like_pytorch(activation):
    torch = pytest.importorskip("torch")
    net = Network.from_sizes([6, 10, 7, 3], activation=activation, init="glorot", seed=1)
    X, y = small_problem(n=200)
    model, linears = torch_twin(torch, net, activation)
    torch_optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    torch_steps(torch, model, torch_optimizer, X, y)
    net.fit(X, y, epochs=1, batch_size=4, learning_rate=0.05, shuffle=False)
    assert_same_parameters(net, linears)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elu_matches_pytorch_autograd_at_and_around_zero(dtype):
    torch = pytest.importorskip("torch")
    z = np.array([[-0.0, 0.0, -1e-10, 1e-10, -1e-5, -1.0, 1.0, -30.0, 30.0]], dtype=dtype)
    torch_z = torch.from_numpy(z.copy()).requires_grad_()
    torch_out = torch.nn.ELU()(torch_z)
    torch_out.sum().backward()
    expected_out, expected_grad = torch_out.detach().numpy(), torch_z.grad.numpy()
    np.testing.assert_array_equal(expected_grad[0, :2], [1, 1])  # PyTorch's choice at 0
    code = kernels.Activation.ELU
    # W = 1, b = 0 and a unit gradient from above: the kernels return ELU(z) and ELU'(z).
    _, out = kernels.forward(z.T.copy(), np.ones((1, 1), dtype), np.zeros(1, dtype), code)
    grad = kernels.backward(np.ones((1, 1), dtype), np.ones(z.shape, dtype), z, code)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    # No absolute tolerance: exp(z) - 1 for expm1 would be far off at 1e-10.
    for actual, expected in [(out.T, expected_out), (grad, expected_grad),
                             (activations.elu(z), expected_out),
                             (activations.elu_derivative(z), expected_grad)]:
        assert actual.dtype == dtype
        np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=0)


# -- online SGD: the first layer's steps held back over blocks of samples ---------

def online_fit(X, y, sizes=(128, 16, 8, 3), **options):
    """Parameters and history of three epochs of plain SGD on one sample at a time."""
    net = Network.from_sizes(list(sizes), dtype=X.dtype, seed=0,
                             dropout=options.pop("dropout", 0.0))
    history = net.fit(X, y, epochs=3, batch_size=1, learning_rate=0.05, seed=2, **options)
    return parameters(net), history


@pytest.mark.parametrize("options", [
    {}, {"dropout": 0.25}, {"sizes": (128, 3)},
    {"sample_weight": np.r_[np.zeros(3), np.ones(57), 0.0, np.full(56, 2.0)]}])
def test_online_sgd_takes_the_steps_of_the_unfused_paths(options):
    """The held-back steps (dense rows, plain SGD, batch 1) against the same steps
    taken through the gradient arrays (a clip norm that never clips) and through the
    CSR kernels (sparse input): equal to rounding, zero-weight samples skipped
    between, the last block short (117 samples), with one layer as with three."""
    scipy_sparse = pytest.importorskip("scipy.sparse")
    X, y = small_problem(n=117, features=128)
    fused, fused_history = online_fit(X, y, **options)
    for other in (online_fit(X, y, clip_norm=1e300, **options),
                  online_fit(scipy_sparse.csr_matrix(X), y, **options)):
        params, history = other
        np.testing.assert_allclose(fused_history["loss"], history["loss"], rtol=1e-12)
        assert fused_history["accuracy"] == history["accuracy"]
        for a, b in zip(fused, params):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_online_sgd_is_the_same_bits_run_to_run(dtype):
    X, y = small_problem(features=128)
    first, second = (online_fit(X.astype(dtype), y)[0] for _ in range(2))
    for a, b in zip(first, second):
        assert a.tobytes() == b.tobytes()


# -- fit's options --------------------------------------------------------------

@pytest.mark.parametrize("optimizer", ["sgd", "adam", SGD(0.9, nesterov=True)])
def test_python_path_trains_like_the_compiled_one(optimizer):
    """Callable activations run the same optimizer kernel, through numpy."""
    X, y = small_problem()
    named = Network([Layer(8, 6, "tanh", init="glorot", rng=0), Layer(3, 8, "softmax", rng=1)])
    custom = Network([Layer(8, 6, np.tanh, lambda z: 1 - np.tanh(z) ** 2, init="glorot", rng=0),
                      Layer(3, 8, "softmax", rng=1)])
    options = dict(epochs=3, batch_size=16, learning_rate=0.05, seed=2, optimizer=optimizer,
                   alpha=0.01, clip_norm=1.0)
    histories = [net.fit(X, y, **options) for net in (named, custom)]
    np.testing.assert_allclose(histories[0]["loss"], histories[1]["loss"], rtol=1e-12)
    assert histories[0]["accuracy"] == histories[1]["accuracy"]
    for a, b in zip(parameters(named), parameters(custom)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_history_and_validation():
    X, y = small_problem()
    net = small_network()
    history = net.fit(X[:100], y[:100], epochs=4, validation_data=(X[100:], y[100:]),
                      optimizer="adam", learning_rate=0.01)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    assert all(len(values) == 4 for values in history.values())
    final = net.evaluate(X[100:], y[100:])
    assert history["val_loss"][-1] == final["loss"]
    assert history["val_accuracy"][-1] == final["accuracy"]
    assert 0 <= min(history["accuracy"]) <= max(history["accuracy"]) <= 1
    split = small_network().fit(X, y, epochs=2, validation_split=0.25, seed=0)
    assert len(split["val_loss"]) == 2
    with pytest.raises(ValueError, match="not both"):
        net.fit(X, y, validation_data=(X, y), validation_split=0.1)
    with pytest.raises(ValueError, match="validation_split"):
        net.fit(X, y, validation_split=1.0)


def test_regression_history_has_no_accuracy():
    net = Network.from_sizes([2, 1], output_activation="identity", seed=0)
    history = net.fit(np.ones((4, 2)), np.ones(4), epochs=2, validation_split=0.5, seed=0)
    assert set(history) == {"loss", "val_loss", "learning_rate"}


def test_invscaling_follows_scikit_learn():
    X, y = small_problem(n=50)
    history = small_network().fit(X, y, epochs=3, learning_rate=0.1, schedule="invscaling",
                                  power_t=0.5)
    np.testing.assert_allclose(history["learning_rate"], [0.1, 0.1 / 51 ** 0.5, 0.1 / 101 ** 0.5])


def test_adaptive_divides_by_five_without_improvement():
    X, y = small_problem(n=30)
    # min_delta no improvement can meet: every patience epochs the rate falls by 5.
    history = small_network().fit(X, y, epochs=6, learning_rate=0.1, schedule="adaptive",
                                  patience=2, min_delta=1e9)
    np.testing.assert_allclose(history["learning_rate"], [0.1, 0.1, 0.1, 0.02, 0.02, 0.004])


def test_early_stopping_restores_the_best_epoch():
    X, y = small_problem(n=200)
    wrong = (y + 1) % 3  # validation labels that get worse as training goes on
    net = small_network()
    history = net.fit(X[:150], y[:150], epochs=50, learning_rate=0.1, optimizer="adam",
                      validation_data=(X[150:], wrong[150:]), early_stopping=True, patience=3)
    best = int(np.argmin(history["val_loss"]))
    assert len(history["val_loss"]) == best + 4  # stopped after patience epochs
    assert net.evaluate(X[150:], wrong[150:])["loss"] == pytest.approx(
        history["val_loss"][best], rel=1e-12)


def test_callbacks_see_logs_and_can_stop():
    seen = []

    class Recorder:
        def on_epoch_end(self, epoch, logs):
            seen.append((epoch, sorted(logs)))
            return epoch < 2

    X, y = small_problem()
    history = small_network().fit(X, y, epochs=10, callbacks=[Recorder()])
    assert [epoch for epoch, _ in seen] == [0, 1, 2]
    assert seen[0][1] == ["accuracy", "learning_rate", "loss"]
    assert len(history["loss"]) == 3


@pytest.mark.parametrize("optimizer", ["sgd", SGD(0.9), "adam"])
def test_partial_fit_keeps_the_optimizer_state(optimizer):
    X, y = small_problem()
    whole, pieces = small_network(), small_network()
    whole.fit(X, y, epochs=3, batch_size=10, learning_rate=0.02, shuffle=False,
              optimizer=optimizer)
    losses = [pieces.partial_fit(X, y, batch_size=10, learning_rate=0.02, shuffle=False,
                                 optimizer=optimizer) for _ in range(3)]
    for a, b in zip(parameters(whole), parameters(pieces)):
        np.testing.assert_array_equal(a, b)
    assert losses[-1] < losses[0]
    assert pieces.optimizer == densecore.optimizers.get(optimizer)


def test_a_different_optimizer_starts_afresh():
    X, y = small_problem()
    net = small_network()
    net.partial_fit(X, y, optimizer="adam")
    assert net.state()["optimizer"]["step"] == 4
    net.partial_fit(X, y, optimizer=Adam(beta_1=0.5))
    assert net.state()["optimizer"]["step"] == 4  # a new state: counted from 0 again
    net.partial_fit(X, y)
    assert net.state()["optimizer"]["step"] == 8 and net.optimizer == Adam(beta_1=0.5)


def test_optimizer_state_round_trips_through_the_state():
    X, y = small_problem()
    original, copy = small_network(), small_network(seed=1)
    original.partial_fit(X, y, optimizer="adam", learning_rate=0.01)
    state = original.state()
    assert state["optimizer"]["slots"].shape == (2, original.parameters.size)
    copy.set_state(state)
    for net in (original, copy):
        net.partial_fit(X, y, learning_rate=0.01, seed=5)
    for a, b in zip(parameters(original), parameters(copy)):
        np.testing.assert_array_equal(a, b)
    bad = dict(state["optimizer"], slots=np.zeros(3))
    with pytest.raises(ValueError, match="slots must be a float array of shape"):
        copy.set_state(dict(state, optimizer=bad))
    with pytest.raises(ValueError, match="optimizer state"):
        copy.set_state(dict(state, optimizer=dict(state["optimizer"], name="rmsprop")))


def test_same_seed_same_adam_run_bit_for_bit():
    X, y = small_problem()
    runs = [small_network(seed=4).fit(X, y, epochs=3, seed=9, optimizer="adam",
                                      validation_split=0.2)["val_loss"] for _ in range(2)]
    assert runs[0] == runs[1]


def test_divergence_stops_with_the_epoch_and_finite_weights():
    X, y = small_problem()
    net = Network.from_sizes([6, 8, 1], activation="relu", output_activation="identity",
                             seed=0)
    targets = 1e150 * X[:, 0]  # squared errors overflow to inf on the first pass
    with pytest.raises(FloatingPointError, match="epoch 1"):
        net.fit(X, targets, epochs=3, learning_rate=0.1)
    assert all(np.isfinite(p).all() for p in parameters(net))


@pytest.mark.parametrize("options, error", [
    ({"optimizer": "rmsprop"}, ValueError), ({"alpha": -1}, ValueError),
    ({"schedule": "cosine"}, ValueError), ({"clip_norm": 0}, ValueError),
    ({"patience": 0}, ValueError), ({"min_delta": -1}, ValueError),
    ({"learning_rate": "fast"}, TypeError), ({"power_t": -1}, ValueError),
])
def test_fit_rejects_bad_training_options(options, error):
    X, y = small_problem()
    with pytest.raises(error):
        small_network().fit(X, y, **options)


@pytest.mark.parametrize("arguments, message", [
    ({"momentum": 1.5}, r"momentum must lie in \[0, 1\], got 1.5"),
    ({"momentum": -0.1}, "momentum"), ({"momentum": np.nan}, "momentum"),
    ({"nesterov": True}, "nesterov"),
])
def test_sgd_settings_are_checked(arguments, message):
    with pytest.raises(ValueError, match=message):
        SGD(**arguments)


def test_adam_settings_are_checked():
    with pytest.raises(ValueError, match=r"beta_1 must lie in \[0, 1\), got 1.0"):
        Adam(beta_1=1.0)
    with pytest.raises(ValueError, match="beta_2"):
        Adam(beta_2=-0.5)
    with pytest.raises(ValueError, match="epsilon"):
        Adam(epsilon=0)


def test_callable_initializer():
    def ones(shape, rng):
        assert isinstance(rng, np.random.Generator)
        return np.ones(shape)

    layer = Layer(3, 2, init=ones, rng=0)
    np.testing.assert_array_equal(layer.weights, 1)
    np.testing.assert_array_equal(layer.bias, 0)
    with pytest.raises(ValueError, match="shape"):
        Layer(3, 2, init=lambda shape, rng: np.ones(2))


@pytest.mark.parametrize("change, message", [
    ({"step": -1}, "step must be >= 0"),
    ({"slots": -np.ones((2, 6 * 8 + 8 + 8 * 3 + 3))}, "second moments"),
])
def test_tampered_optimizer_state_is_refused(change, message):
    X, y = small_problem()
    net = small_network()
    net.partial_fit(X, y, optimizer="adam")
    state = net.state()
    with pytest.raises(ValueError, match=message):
        small_network().set_state(dict(state, optimizer={**state["optimizer"], **change}))
