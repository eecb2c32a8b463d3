"""Sample complexity by counting: identify a polynomial from values vs values + gradients.

A polynomial of total degree ``<= q`` in ``d`` variables has ``D = C(q + d, d)``
coefficients. Each point gives 1 linear condition from its value, ``1 + d`` from its
value and gradient. The number of generic points needed is the smallest ``n`` for
which the stacked linear system has rank ``D``:

* values only: ``n = D`` (counting formula);
* values and gradients: ``n = ceil(D / (d + 1))`` by counting, **except** where the
  conditions at generic points are dependent. By the Alexander-Hirschowitz theorem
  (1995) the only such cases are ``q = 2`` with ``2 <= n <= d`` (a quadric through n
  points singular at all of them exists: the square of a hyperplane through them) and
  ``(d, q, n) = (2, 4, 5), (3, 4, 9), (4, 4, 14), (4, 3, 7)``; one more point then
  suffices. The measured table reproduces these exceptions.

Ranks are computed exactly modulo the prime ``2**31 - 1`` at random integer points
(Schwartz-Zippel: a rank drop by chance has probability about ``deg / p``), which
avoids the ill-conditioning of monomial bases in floating point.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

PRIME = 2**31 - 1
SPORADIC_EXCEPTIONS = {(2, 4, 5), (3, 4, 9), (4, 4, 14), (4, 3, 7)}


def n_coefficients(d: int, q: int) -> int:
    """``C(q + d, d)``: dimension of polynomials of total degree <= q in d variables."""
    return math.comb(q + d, d)


def monomial_exponents(d: int, q: int) -> np.ndarray:
    """Exponents of all monomials of total degree ``<= q``, shape (C(q+d, d), d)."""
    exps = [e for e in itertools.product(range(q + 1), repeat=d) if sum(e) <= q]
    return np.array(sorted(exps, key=lambda e: (sum(e), tuple(-v for v in e))), dtype=np.int64)


def counting_points(d: int, q: int, gradients: bool) -> int:
    """Naive count: ``D`` points (values) or ``ceil(D / (d + 1))`` (values + gradients)."""
    big_d = n_coefficients(d, q)
    return math.ceil(big_d / (d + 1)) if gradients else big_d


def is_defective(d: int, q: int, n: int) -> bool:
    """True when n generic double points impose dependent conditions (Alexander-Hirschowitz)."""
    return (q == 2 and 2 <= n <= d) or (d, q, n) in SPORADIC_EXCEPTIONS


def predicted_points(d: int, q: int, gradients: bool) -> int:
    """Counting formula corrected by the Alexander-Hirschowitz exceptions."""
    n = counting_points(d, q, gradients)
    if not gradients:
        return n
    while is_defective(d, q, n):
        n += 1
    return n


def design_matrix(points: np.ndarray, d: int, q: int, gradients: bool) -> np.ndarray:
    """Conditions mod p: per point its value row, then (if asked) its d gradient rows.

    Parameters
    ----------
    points : numpy.ndarray of int64, shape (n, d), entries in [0, PRIME)

    Returns
    -------
    numpy.ndarray of int64, shape (n * (1 + d*gradients), D), entries in [0, PRIME)
    """
    exps = monomial_exponents(d, q)
    n = points.shape[0]
    # powers[i, k, e] = x_ik^e mod p, e = 0..q
    powers = np.ones((n, d, q + 1), dtype=np.int64)
    for e in range(1, q + 1):
        powers[:, :, e] = powers[:, :, e - 1] * points % PRIME

    def monomials(exponents: np.ndarray) -> np.ndarray:
        out = np.ones((n, exponents.shape[0]), dtype=np.int64)
        for k in range(d):
            out = out * powers[:, k, :][:, exponents[:, k]] % PRIME
        return out

    blocks = [monomials(exps)]
    if gradients:
        for k in range(d):
            lowered = exps.copy()
            lowered[:, k] = np.maximum(lowered[:, k] - 1, 0)
            blocks.append(monomials(lowered) * exps[:, k] % PRIME)
    # interleave so the rows of point i come before those of point i + 1
    return np.stack(blocks, axis=1).reshape(-1, exps.shape[0])


def rank_mod_p(matrix: np.ndarray) -> int:
    """Rank over the field Z/PRIME of an int64 matrix with entries in [0, PRIME)."""
    a = np.array(matrix, dtype=np.int64) % PRIME
    rows, cols = a.shape
    rank = 0
    for c in range(cols):
        if rank == rows:
            break
        nonzero = np.flatnonzero(a[rank:, c])
        if nonzero.size == 0:
            continue
        pivot = rank + nonzero[0]
        if pivot != rank:
            a[[rank, pivot]] = a[[pivot, rank]]
        a[rank, c:] = a[rank, c:] * pow(int(a[rank, c]), PRIME - 2, PRIME) % PRIME
        below = rank + 1 + np.flatnonzero(a[rank + 1 :, c])
        if below.size:
            # entries < 2^31, so the products stay below 2^62: no int64 overflow
            a[below, c:] = (a[below, c:] - a[below, c][:, None] * a[rank, c:]) % PRIME
        rank += 1
    return rank


def minimal_points(d: int, q: int, gradients: bool, seed: int = 0) -> int:
    """Smallest number of random points whose conditions have full rank ``D``.

    Starts from the counting bound (fewer rows than ``D`` cannot have rank ``D``) and
    adds points until the exact rank mod p reaches ``D``.
    """
    if d < 1 or q < 0:
        raise ValueError(f"need d >= 1 and q >= 0; got d={d}, q={q}")
    rng = np.random.default_rng(seed)
    big_d = n_coefficients(d, q)
    n = counting_points(d, q, gradients)
    points = rng.integers(0, PRIME, size=(n, d), dtype=np.int64)
    while rank_mod_p(design_matrix(points, d, q, gradients)) < big_d:
        points = np.vstack([points, rng.integers(0, PRIME, size=(1, d), dtype=np.int64)])
        n += 1
        if n > big_d:
            raise RuntimeError(f"no full rank with {n} points for d={d}, q={q}")
    return n


def sample_complexity_table(dims=range(1, 7), degrees=range(1, 7), seed: int = 0) -> list[dict]:
    """Measured and predicted point counts for each ``(d, q)``.

    Returns
    -------
    list of dict
        One per (d, q) with keys ``d``, ``q``, ``n_coefficients`` (D),
        ``points_values`` and ``points_values_gradients`` (measured by rank),
        ``counting_values`` (D), ``counting_values_gradients`` (ceil(D/(d+1))),
        ``predicted_values_gradients`` (with the Alexander-Hirschowitz exceptions),
        ``exceptional`` (bool) and ``ratio`` (points_values / points_values_gradients).
    """
    rows = []
    for d in dims:
        for q in degrees:
            values = minimal_points(d, q, gradients=False, seed=seed)
            both = minimal_points(d, q, gradients=True, seed=seed)
            counted = counting_points(d, q, gradients=True)
            rows.append(
                {
                    "d": d,
                    "q": q,
                    "n_coefficients": n_coefficients(d, q),
                    "points_values": values,
                    "points_values_gradients": both,
                    "counting_values": counting_points(d, q, gradients=False),
                    "counting_values_gradients": counted,
                    "predicted_values_gradients": predicted_points(d, q, gradients=True),
                    "exceptional": is_defective(d, q, counted),
                    "ratio": values / both,
                }
            )
    return rows
