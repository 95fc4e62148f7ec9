"""Small graphs shared by the array-library tests (Dask, CuPy): each builder takes a graph
and a Generator and returns (z, targets, feed) with NumPy feeds."""

import numpy as np

import graphdiff as gd


def elementwise(g, rng):
    x = g.input("x", shape=(None, 4))
    w = g.parameter(rng.normal(size=(4,)), name="w")
    b = g.parameter(rng.normal(size=(1, 4)), name="b")
    y = (gd.tanh(x * w + b) ** 2 + gd.sigmoid(x) - gd.softplus(-x) + gd.exp(-gd.square(x))
         + gd.maximum(x, w) + gd.clip(x, -0.5, 0.5) + abs(x) + gd.where(x > 0, x, b) / 3.0)
    return gd.sum(y), [w, b, x], {x: rng.normal(size=(12, 4))}


def reductions(g, rng):
    x = g.input("x", shape=(None, 4))
    w = g.parameter(rng.normal(size=(4,)), name="w")
    y = x * w
    z = (gd.sum(gd.max(y, axis=1)) + gd.mean(gd.min(y, axis=0)) + gd.mean(y)
         + gd.sum(gd.logsumexp(y, axis=-1)) + gd.sum(gd.mean(y, axis=0) ** 2))
    return z, [w, x], {x: rng.normal(size=(12, 4))}


def matmul(g, rng):
    x = g.input("x", shape=(None, 4))
    W = g.parameter(rng.normal(size=(4, 3)), name="W")
    v = g.parameter(rng.normal(size=(3,)), name="v")
    return gd.mean(gd.square(x @ W) @ v), [W, v, x], {x: rng.normal(size=(12, 4))}


def indexing(g, rng):
    x = g.input("x", shape=(None, 4))
    E = g.parameter(rng.normal(size=(5, 4)), name="E")
    rows = np.array([0, 1, 1, 3, 0, 0])               # repeated rows add up
    z = (gd.sum(gd.square(E[rows])) + gd.sum(x[np.array([1, 1, 2])] * E[1:4])
         + gd.sum(x[:, 1:3] ** 2) + gd.sum(x[np.array([0, 0, 5]), np.array([1, 1, 2])] * 3.0)
         + gd.sum(gd.concatenate([x, x * 2.0], axis=1) ** 2))
    return z, [E, x], {x: rng.normal(size=(12, 4))}


def cross_entropy(g, rng):
    x = g.input("x", shape=(None, 4))
    y = g.input("y", shape=(None,), dtype="int64")
    p = g.input("p", shape=(None, 3))
    W = g.parameter(rng.normal(size=(4, 3)), name="W")
    logits = x @ W
    z = (gd.losses.softmax_cross_entropy(logits, y)
         + gd.losses.softmax_cross_entropy(logits, p, reduction="sum")
         + gd.sum(gd.softmax(logits)[:, 0]))
    feed = {x: rng.normal(size=(12, 4)), y: rng.integers(0, 3, size=12),
            p: rng.dirichlet(np.ones(3), size=12)}
    return z, [W, x], feed


def mlp(g, rng):
    x = g.input("x", shape=(None, 784))
    y = g.input("y", shape=(None,), dtype="int64")
    net = gd.nn.MLP(g, [784, 64, 10], rng=np.random.default_rng(1))
    loss = gd.losses.softmax_cross_entropy(net(x), y)     # the batch mean
    return loss, net.params, {x: rng.normal(size=(96, 784)), y: rng.integers(0, 10, size=96)}
