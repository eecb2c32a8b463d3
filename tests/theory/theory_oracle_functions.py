"""Plain autograd-numpy implementations of the catalog, written independently of sympy.

Used as an oracle: HIPS ``autograd`` differentiates them and the results are compared
with :mod:`sobolev_lab.theory.functions`. Each takes X of shape (N, d) and returns (N,).
"""

import autograd.numpy as anp

PI = anp.pi


def ackley(X):
    d = X.shape[1]
    r = anp.sqrt(anp.sum(X**2, axis=1) / d)
    return -20 * anp.exp(-0.2 * r) - anp.exp(anp.sum(anp.cos(2 * PI * X), axis=1) / d) + 20 + anp.e


def beale(X):
    x, y = X[:, 0], X[:, 1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def booth(X):
    x, y = X[:, 0], X[:, 1]
    return (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2


def bukin_n6(X):
    x, y = X[:, 0], X[:, 1]
    return 100 * anp.sqrt(anp.abs(y - 0.01 * x**2)) + 0.01 * anp.abs(x + 10)


def mccormick(X):
    x, y = X[:, 0], X[:, 1]
    return anp.sin(x + y) + (x - y) ** 2 - 1.5 * x + 2.5 * y + 1


def rosenbrock(X):
    return anp.sum(100 * (X[:, 1:] - X[:, :-1] ** 2) ** 2 + (X[:, :-1] - 1) ** 2, axis=1)


def styblinski_tang(X):
    return 0.5 * anp.sum(X**4 - 16 * X**2 + 5 * X, axis=1)


def rastrigin(X):
    return 10 * X.shape[1] + anp.sum(X**2 - 10 * anp.cos(2 * PI * X), axis=1)


def griewank(X):
    i = anp.arange(1, X.shape[1] + 1)
    return anp.sum(X**2, axis=1) / 4000 - anp.prod(anp.cos(X / anp.sqrt(i)), axis=1) + 1


def levy(X):
    W = 1 + (X - 1) / 4
    head = anp.sin(PI * W[:, 0]) ** 2
    middle = anp.sum((W[:, :-1] - 1) ** 2 * (1 + 10 * anp.sin(PI * W[:, :-1] + 1) ** 2), axis=1)
    tail = (W[:, -1] - 1) ** 2 * (1 + anp.sin(2 * PI * W[:, -1]) ** 2)
    return head + middle + tail


def sphere(X):
    return anp.sum(X**2, axis=1)


def zakharov(X):
    s = anp.sum(0.5 * anp.arange(1, X.shape[1] + 1) * X, axis=1)
    return anp.sum(X**2, axis=1) + s**2 + s**4


def dixon_price(X):
    i = anp.arange(2, X.shape[1] + 1)
    return (X[:, 0] - 1) ** 2 + anp.sum(i * (2 * X[:, 1:] ** 2 - X[:, :-1]) ** 2, axis=1)


def matyas(X):
    x, y = X[:, 0], X[:, 1]
    return 0.26 * (x**2 + y**2) - 0.48 * x * y


def himmelblau(X):
    x, y = X[:, 0], X[:, 1]
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def three_hump_camel(X):
    x, y = X[:, 0], X[:, 1]
    return 2 * x**2 - 1.05 * x**4 + x**6 / 6 + x * y + y**2


def six_hump_camel(X):
    x, y = X[:, 0], X[:, 1]
    return (4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2


def goldstein_price(X):
    x, y = X[:, 0], X[:, 1]
    a = 1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x**2 - 14 * y + 6 * x * y + 3 * y**2)
    b = 30 + (2 * x - 3 * y) ** 2 * (18 - 32 * x + 12 * x**2 + 48 * y - 36 * x * y + 27 * y**2)
    return a * b


def branin(X):
    x, y = X[:, 0], X[:, 1]
    b, c, t = 5.1 / (4 * PI**2), 5 / PI, 1 / (8 * PI)
    return (y - b * x**2 + c * x - 6) ** 2 + 10 * (1 - t) * anp.cos(x) + 10


def easom(X):
    x, y = X[:, 0], X[:, 1]
    return -anp.cos(x) * anp.cos(y) * anp.exp(-((x - PI) ** 2) - (y - PI) ** 2)


REFERENCES = {
    f.__name__: f
    for f in [
        ackley,
        beale,
        booth,
        bukin_n6,
        mccormick,
        rosenbrock,
        styblinski_tang,
        rastrigin,
        griewank,
        levy,
        sphere,
        zakharov,
        dixon_price,
        matyas,
        himmelblau,
        three_hump_camel,
        six_hump_camel,
        goldstein_price,
        branin,
        easom,
    ]
}
