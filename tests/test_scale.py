"""Issue 5, scale: the gradient of a 200,000-op chain and of a node with 100,000 consumers
build and run (no recursion), and memory per node stays bounded (linear in the graph).
Tests never assert on wall time."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np

import graphdiff as gd


def test_gradient_of_200k_op_chain():
    n = 200_000
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    c = x
    for k in range(n):
        # every fourth op scales (so the gradient is a real product), the rest shift
        c = c * 1.00001 if k % 4 == 0 else c + 1.0
    z = gd.sum(c)
    dx = gd.grad(z, x)
    value = np.array([1.0, 2.0])
    v, d = g.run([z, dx], feed={x: value})
    # closed form: each block of four ops maps c to (c * a) + 3
    a = 1.00001
    blocks = n // 4
    scale = a ** blocks
    shift = 3.0 * sum(a ** j for j in range(blocks))
    np.testing.assert_allclose(v, np.sum(value * scale + shift), rtol=1e-9)
    np.testing.assert_allclose(d, [scale, scale], rtol=1e-9)
    nodes = g.nodes
    assert len(nodes) > n
    assert [m.index for m in nodes[:: n // 10]] == list(range(0, len(nodes), n // 10))


def test_gradient_of_node_with_100k_consumers():
    n = 100_000
    g = gd.Graph()
    x = g.input("x", shape=())
    weights = [float(k % 7 + 1) for k in range(n)]
    z = x * weights[0]
    for w in weights[1:]:
        z = z + x * w
    assert len(g.consumers(x)) == n
    dx = gd.grad(z, x)
    f = g.function([x], [z, dx])
    v, d = f(np.float64(2.0))
    total = sum(weights)
    assert v == 2.0 * total
    assert d == total
    # the same through the uncompiled path
    v2, d2 = g.run([z, dx], feed={x: 2.0})
    assert (v2, d2) == (v, d)


def _build(n):
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    c = x
    for _ in range(n):
        c = gd.tanh(c)
    dx = gd.grad(gd.sum(c), x)
    return g, dx


def _traced_bytes(n):
    gc.collect()
    tracemalloc.start()
    try:
        g, dx = _build(n)
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return current, len(g.nodes), g, dx


def test_memory_per_node_is_bounded_and_linear():
    # chains of 5,000 and 10,000 tanh ops: about 10,000 and 20,000 nodes with the gradient
    # (each tanh adds one fused TanhGrad node to the gradient)
    small, small_nodes, g1, dx1 = _traced_bytes(5_000)
    del g1, dx1
    large, large_nodes, g2, dx2 = _traced_bytes(10_000)
    assert 9_500 < small_nodes < 10_500 and 19_000 < large_nodes < 21_000, (small_nodes,
                                                                            large_nodes)
    assert 1.9 < large_nodes / small_nodes < 2.1
    per_node_small = small / small_nodes
    per_node_large = large / large_nodes
    # linear: doubling the graph roughly doubles the memory
    assert 1.6 < large / small < 2.4, (small, large)
    assert 0.8 < per_node_large / per_node_small < 1.25, (per_node_small, per_node_large)
    # and small in absolute terms (a Node with slots, its consumer list, shared op instances)
    assert per_node_large < 1000, per_node_large
    print(f"memory: {small_nodes} nodes {small} B, {large_nodes} nodes {large} B, "
          f"{per_node_large:.0f} B/node")
    # the graph still runs
    out = g2.run(dx2, feed={g2.find("x"): np.zeros(3)})
    assert out.shape == (3,) and np.all(np.isfinite(out))
