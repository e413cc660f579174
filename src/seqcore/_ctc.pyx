"""Connectionist temporal classification: the loss with its gradient, and
decoding (best path, prefix beam search).

Design: the Python wrapper (python/seqcore/nn/_ctc.py) checks and converts
everything; these functions check only the shapes they rely on and trust
the values (labels in range and not blank, lengths in [1, T]).

Letters: B batch, T steps, C classes (blank included), S the length of one
row's target, S' = 2 S + 1 the length of its extended label sequence
``l' = (blank, l_1, blank, l_2, ..., l_S, blank)``.

Loss (``ctc_loss``), per row b of T_b = input_lengths[b] steps, in float64
whatever the logits' dtype, in log space throughout:

* ``lp[t, k] = log_softmax(logits[b, t])[k]``            (T_b, C)
* forward: ``alpha[0, 0] = lp[0, blank]``, ``alpha[0, 1] = lp[0, l_1]``,
  ``alpha[t, s] = lp[t, l'_s] + logsumexp(alpha[t-1, s], alpha[t-1, s-1],
  alpha[t-1, s-2] if l'_s is a label unlike l'_{s-2})``        (T_b, S')
* ``nll = -logsumexp(alpha[T_b-1, S'-1], alpha[T_b-1, S'-2])``
* backward, with ``beta[t, s]`` the log-probability of the steps after t
  given position s at step t (so ``alpha[t, s] + beta[t, s]`` is the
  log-probability of every path through (t, s)): ``beta[T_b-1, S'-1] =
  beta[T_b-1, S'-2] = 0``, ``beta[t-1, s] = logsumexp over the successors
  s2 in {s, s+1, s+2 (same rule)} of beta[t, s2] + lp[t, l'_{s2}]``.
  Only one row of beta is kept: the gradient of step t is written as soon
  as beta[t] is known.  The forward pass and the gradient skip the
  positions no complete path can be at: ``s >= 2 (t + 1)`` (a path moves
  at most two positions a step) and ``s < S' - 2 (T_b - t)`` (the rest
  would not fit).
* gradient of ``scale[b] * nll`` with respect to the logits:
  ``grad[b, t, k] = scale[b] * (exp(lp[t, k]) - sum_{s: l'_s = k}
  exp(alpha[t, s] + beta[t, s] + nll))`` for t < T_b, 0 on padded steps.

An impossible row (its target needs more steps than it has: S plus the
number of adjacent repeats > T_b) has nll = inf; its gradient is NaN
(PyTorch's) or zero with ``zero_infinity``.

Rows are independent: ``ctc_loss`` cuts the batch into contiguous ranges of
rows and runs them on the core's worker pool (_blas.run_parts).  Each row's
result depends on that row alone, so results never depend on the threads.
Each part allocates its own workspace (lp, alpha, beta and its emission
terms for one step, the per-class sums), ``(T_b (C + S') + 2 S' + 2 + C)``
doubles for its largest row.  Per cell (t, s) the forward and backward
steps take at most two exponentials and one logarithm each (the largest
term factored out), and the gradient's occupation one exponential.

Decoding: ``greedy`` takes the most probable class of each step, collapses
repeats and drops blanks.  ``beam_search`` is the prefix beam search of
Hannun et al. (2014), over a trie of prefixes; see its docstring.
"""

from cython cimport floating
from libc.math cimport exp, log, log1p, INFINITY, NAN
from libc.stdlib cimport malloc, free

from seqcore._blas cimport run_parts
from seqcore._checks cimport check_shape

import numpy as np


cdef inline double logaddexp(double a, double b) noexcept nogil:
    """log(exp(a) + exp(b)) without overflow; -inf + -inf is -inf."""
    if a < b:
        a, b = b, a
    if b == -INFINITY:
        return a
    return a + log1p(exp(b - a))


cdef void log_softmax_row(const floating* z, Py_ssize_t C, double* out) noexcept nogil:
    """out (C,) = z - logsumexp(z), in float64."""
    cdef Py_ssize_t k
    cdef double zmax = z[0], s = 0
    for k in range(1, C):
        if z[k] > zmax:
            zmax = z[k]
    for k in range(C):
        s += exp(z[k] - zmax)
    s = zmax + log(s)
    for k in range(C):
        out[k] = z[k] - s


# --------------------------------------------------------------------------
# The loss: one Batch struct for the pool's parts (void pointers: a struct
# cannot hold a fused type; ``dbl`` says which).
# --------------------------------------------------------------------------

cdef struct Batch:
    bint dbl, grad, zero_infinity
    Py_ssize_t T, C, blank, parts, B
    const void* logits         # (B, T, C)
    const Py_ssize_t* lengths  # (B,)
    const Py_ssize_t* targets  # the labels of every row, concatenated
    const Py_ssize_t* starts   # (B + 1,): row b's labels are targets[starts[b]:starts[b+1]]
    const double* scale        # (B,)
    double* nll                # (B,)
    void* out                  # (B, T, C) gradient, or NULL
    int* status                # (parts,): 0, or -1 when a workspace could not be allocated


cdef inline Py_ssize_t label_at(const Py_ssize_t* l, Py_ssize_t s, Py_ssize_t blank) noexcept nogil:
    """l'_s: blank at even s, the target's (s // 2)-th label at odd s."""
    return l[s >> 1] if s & 1 else blank


cdef inline bint skip_allowed(const Py_ssize_t* l, Py_ssize_t s, Py_ssize_t blank) noexcept nogil:
    """Whether position s may be reached from s - 2: a label unlike the one before it."""
    return s >= 2 and (s & 1) == 1 and l[s >> 1] != l[(s >> 1) - 1]


cdef void ctc_part(void* ctx, Py_ssize_t part) noexcept nogil:
    cdef Batch* a = <Batch*> ctx
    if a.dbl:
        ctc_rows(a, part, <double*> NULL)
    else:
        ctc_rows(a, part, <float*> NULL)


cdef inline double logsumexp3(double a, double b, double c) noexcept nogil:
    """log(exp(a) + exp(b) + exp(c)): two exponentials and one logarithm."""
    if b > a:
        a, b = b, a
    if c > a:
        a, c = c, a
    if a == -INFINITY:
        return a
    return a + log(1.0 + exp(b - a) + exp(c - a))


cdef void ctc_rows(Batch* a, Py_ssize_t part, floating* tag) noexcept nogil:
    """Rows [part * B / parts, (part + 1) * B / parts) of the batch."""
    cdef Py_ssize_t b0 = part * a.B // a.parts, b1 = (part + 1) * a.B // a.parts
    cdef Py_ssize_t b, Sx, most = 0, C = a.C
    cdef double* work
    for b in range(b0, b1):
        Sx = 2 * (a.starts[b + 1] - a.starts[b]) + 1
        most = max(most, a.lengths[b] * (C + Sx) + 2 * Sx + 2 + C)
    work = <double*> malloc(max(most, 1) * sizeof(double))
    if work == NULL:
        a.status[part] = -1
        return
    for b in range(b0, b1):
        ctc_row(a, b, work, tag)
    free(work)


cdef void ctc_row(Batch* a, Py_ssize_t b, double* work, floating* tag) noexcept nogil:
    cdef Py_ssize_t T = a.T, C = a.C, blank = a.blank
    cdef Py_ssize_t Tb = a.lengths[b], S = a.starts[b + 1] - a.starts[b]
    cdef Py_ssize_t Sx = 2 * S + 1, t, s, k, lo, hi
    cdef const Py_ssize_t* l = a.targets + a.starts[b]
    cdef const floating* z = (<const floating*> a.logits) + b * T * C
    cdef floating* g = (<floating*> a.out) + b * T * C if a.grad else NULL
    cdef double* lp = work                    # (Tb, C)
    cdef double* alpha = lp + Tb * C          # (Tb, Sx)
    cdef double* beta = alpha + Tb * Sx       # (Sx,): beta[t]
    cdef double* emit = beta + Sx             # (Sx + 2,): beta[t] + lp[t, l'_s], -inf after
    cdef double* occ = emit + Sx + 2          # (C,): sum_s P(path at (t, s)) per class
    cdef double v, nll, sc = a.scale[b] if a.grad else 0
    cdef double* prev
    cdef double* cur
    cdef const double* lpt

    for t in range(Tb):
        log_softmax_row(z + t * C, C, lp + t * C)

    # forward: alpha[t, s], -inf outside the positions a path can be at:
    # s < 2 (t + 1) (a step per position at most two ahead), s >= Sx - 2 (Tb - t)
    # (the rest must still fit)
    for s in range(Sx):
        alpha[s] = -INFINITY
    alpha[0] = lp[blank]
    if Sx > 1:
        alpha[1] = lp[l[0]]
    for t in range(1, Tb):
        prev = alpha + (t - 1) * Sx
        cur = alpha + t * Sx
        lpt = lp + t * C
        lo = max(0, Sx - 2 * (Tb - t))
        hi = min(Sx, 2 * (t + 1))
        for s in range(Sx):
            cur[s] = -INFINITY
        for s in range(lo, hi):
            if s == 0:
                v = prev[0]
            elif skip_allowed(l, s, blank):
                v = logsumexp3(prev[s], prev[s - 1], prev[s - 2])
            else:
                v = logaddexp(prev[s], prev[s - 1])
            cur[s] = v + lpt[label_at(l, s, blank)]
    cur = alpha + (Tb - 1) * Sx
    nll = -(logaddexp(cur[Sx - 1], cur[Sx - 2]) if Sx > 1 else cur[0])
    a.nll[b] = nll
    if not a.grad:
        return

    for k in range((T - Tb) * C):   # padded steps
        g[Tb * C + k] = 0
    if nll == INFINITY:
        v = 0 if a.zero_infinity else NAN
        for k in range(Tb * C):
            g[k] = <floating> v
        return

    # backward: beta[t] for t = Tb-1 .. 0, the gradient of step t with it.
    # The occupation of (t, s), exp(alpha + beta + nll), is the posterior
    # probability that a path is at s at step t: in [0, 1], summed per class
    # in linear space (one exponential a cell, no logarithm).
    for s in range(Sx):
        beta[s] = -INFINITY
    beta[Sx - 1] = 0
    if Sx > 1:
        beta[Sx - 2] = 0
    emit[Sx] = emit[Sx + 1] = -INFINITY
    t = Tb - 1
    while True:
        lpt = lp + t * C
        lo = max(0, Sx - 2 * (Tb - t))
        hi = min(Sx, 2 * (t + 1))
        for k in range(C):
            occ[k] = 0
        cur = alpha + t * Sx
        for s in range(lo, hi):
            v = cur[s] + beta[s]
            if v != -INFINITY:
                occ[label_at(l, s, blank)] += exp(v + nll)
        for k in range(C):
            g[t * C + k] = <floating> (sc * (exp(lpt[k]) - occ[k]))
        if t == 0:
            break
        # beta[t-1, s] = logsumexp_{s2} beta[t, s2] + lp[t, l'_{s2}], in place
        # (position s reads s, s+1, s+2 only: ascending s never reads a
        # value already overwritten)
        for s in range(Sx):
            emit[s] = beta[s] + lpt[label_at(l, s, blank)]
        for s in range(Sx):
            if s + 2 < Sx and skip_allowed(l, s + 2, blank):
                beta[s] = logsumexp3(emit[s], emit[s + 1], emit[s + 2])
            else:
                beta[s] = logaddexp(emit[s], emit[s + 1])
        t -= 1


def ctc_loss(const floating[:, :, ::1] logits, const Py_ssize_t[::1] input_lengths,
             const Py_ssize_t[::1] targets, const Py_ssize_t[::1] starts,
             Py_ssize_t blank, const double[::1] scale, double[::1] nll,
             floating[:, :, ::1] grad, bint zero_infinity, int threads):
    """Per-row negative log-likelihoods into ``nll`` (B,) and, unless grad
    has no rows, ``grad[b] = scale[b] * d nll[b] / d logits[b]`` (B, T, C).

    ``targets`` holds the labels of every row concatenated, row b's being
    ``targets[starts[b]:starts[b+1]]``; lengths in [1, T], labels in [0, C)
    and not ``blank`` (checked by the caller).  ``threads``: the most threads
    the rows may run on.
    """
    cdef Py_ssize_t B = logits.shape[0], T = logits.shape[1], C = logits.shape[2]
    cdef bint want_grad = grad.shape[0] > 0
    cdef Py_ssize_t b, parts
    cdef Batch a
    fn = "ctc_loss"
    check_shape(fn, "input_lengths", input_lengths.shape, (B,), "B from logits")
    check_shape(fn, "starts", starts.shape, (B + 1,), "B + 1 from logits")
    check_shape(fn, "scale", scale.shape, (B,), "B from logits")
    check_shape(fn, "nll", nll.shape, (B,), "B from logits")
    if want_grad:
        check_shape(fn, "grad", grad.shape, (B, T, C), "(B, T, C) from logits")
    if B == 0:
        return
    if T == 0 or C == 0 or not 0 <= blank < C:
        raise ValueError(f"{fn}: logits of shape {(B, T, C)} with blank {blank}")
    if starts[0] != 0 or starts[B] != targets.shape[0]:
        raise ValueError(f"{fn}: starts must run from 0 to len(targets) = {targets.shape[0]}")
    for b in range(B):   # the loops index with these
        if not 1 <= input_lengths[b] <= T or starts[b + 1] < starts[b]:
            raise ValueError(f"{fn}: row {b} has input length {input_lengths[b]} "
                             f"(T = {T}) or target bounds {starts[b]}, {starts[b + 1]}")
    parts = min(B, 256)
    status = np.zeros(parts, dtype=np.intc)
    cdef int[::1] st = status
    a.dbl = floating is double
    a.grad = want_grad
    a.zero_infinity = zero_infinity
    a.T, a.C, a.blank, a.parts, a.B = T, C, blank, parts, B
    a.logits = &logits[0, 0, 0]
    a.lengths = &input_lengths[0]
    a.targets = &targets[0] if targets.shape[0] > 0 else NULL
    a.starts = &starts[0]
    a.scale = &scale[0]
    a.nll = &nll[0]
    a.out = &grad[0, 0, 0] if want_grad else NULL
    a.status = &st[0]
    with nogil:
        run_parts(ctc_part, &a, parts, max(1, threads))
    if (status != 0).any():
        raise MemoryError(f"{fn}: no memory for the forward-backward workspace of "
                          f"{T} steps and {C} classes")


# --------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------

def greedy(const floating[:, :, ::1] logits, const Py_ssize_t[::1] input_lengths,
           Py_ssize_t blank, Py_ssize_t[:, ::1] labels, Py_ssize_t[::1] n_labels,
           double[::1] log_prob):
    """Best path decoding: ``labels[b, :n_labels[b]]`` the most probable class
    of each step, repeats collapsed and blanks dropped; ``log_prob[b]`` the
    log-probability of that path (of the alignment, not of the labelling).
    Ties go to the lower class."""
    cdef Py_ssize_t B = logits.shape[0], T = logits.shape[1], C = logits.shape[2]
    cdef Py_ssize_t b, t, k, best, last, n
    cdef double zmax, s
    cdef const floating* z
    fn = "greedy"
    check_shape(fn, "input_lengths", input_lengths.shape, (B,), "B from logits")
    check_shape(fn, "labels", labels.shape, (B, T), "(B, T) from logits")
    check_shape(fn, "n_labels", n_labels.shape, (B,), "B from logits")
    check_shape(fn, "log_prob", log_prob.shape, (B,), "B from logits")
    if C == 0 or not 0 <= blank < C:
        raise ValueError(f"{fn}: {C} classes with blank {blank}")
    for b in range(B):
        if not 0 <= input_lengths[b] <= T:
            raise ValueError(f"{fn}: input length {input_lengths[b]} of row {b} "
                             f"outside [0, {T}]")
    with nogil:
        for b in range(B):
            last, n, log_prob[b] = blank, 0, 0
            for t in range(input_lengths[b]):
                z = &logits[b, t, 0]
                best = 0
                for k in range(1, C):
                    if z[k] > z[best]:
                        best = k
                zmax, s = z[best], 0
                for k in range(C):
                    s += exp(z[k] - zmax)
                log_prob[b] -= log(s)   # log softmax of the best class
                if best != blank and best != last:
                    labels[b, n] = best
                    n += 1
                last = best
            n_labels[b] = n


# Prefix beam search.  Prefixes are nodes of a trie: node 0 is the empty
# prefix; node n is its parent's prefix followed by label[n].  Each step
# scores candidates and keeps the best W as the beam; a candidate is either
# a node that exists already (kept, or a prefix dropped earlier and now
# reached again) or a new child (parent, c) that only becomes a node if it
# is kept, so the trie grows by at most W nodes per step.

cdef struct Trie:
    Py_ssize_t n, cap
    Py_ssize_t* parent
    Py_ssize_t* label
    Py_ssize_t* child      # first child
    Py_ssize_t* sibling    # next child of the same parent
    Py_ssize_t* stamp      # the step whose accumulators pb, pnb hold
    Py_ssize_t* prior_row  # row of the cached prior, or -1
    double* pb             # log P(prefix, ending in blank) at the step
    double* pnb            # log P(prefix, ending in a label) at the step


cdef int trie_init(Trie* tr, Py_ssize_t cap) noexcept nogil:
    tr.n, tr.cap = 1, cap
    tr.parent = <Py_ssize_t*> malloc(6 * cap * sizeof(Py_ssize_t))
    tr.pb = <double*> malloc(2 * cap * sizeof(double))
    if tr.parent == NULL or tr.pb == NULL:
        free(tr.parent)
        free(tr.pb)
        return -1
    tr.label = tr.parent + cap
    tr.child = tr.label + cap
    tr.sibling = tr.child + cap
    tr.stamp = tr.sibling + cap
    tr.prior_row = tr.stamp + cap
    tr.pnb = tr.pb + cap
    tr.parent[0], tr.label[0], tr.child[0], tr.sibling[0] = -1, -1, -1, -1
    tr.stamp[0], tr.prior_row[0] = -1, -1
    return 0


cdef void trie_free(Trie* tr) noexcept nogil:
    free(tr.parent)
    free(tr.pb)


cdef inline Py_ssize_t find_child(Trie* tr, Py_ssize_t node, Py_ssize_t c) noexcept nogil:
    cdef Py_ssize_t m = tr.child[node]
    while m >= 0 and tr.label[m] != c:
        m = tr.sibling[m]
    return m


cdef inline void touch(Trie* tr, Py_ssize_t node, Py_ssize_t t, Py_ssize_t* touched,
                       Py_ssize_t* n_touched) noexcept nogil:
    """Start the accumulators of node at step t (once per step)."""
    if tr.stamp[node] != t:
        tr.stamp[node] = t
        tr.pb[node] = -INFINITY
        tr.pnb[node] = -INFINITY
        touched[n_touched[0]] = node
        n_touched[0] += 1


# A min-heap of the best W candidates by score; ties keep the earlier one
# (candidate order is deterministic), so results are too.
cdef inline bint worse(const double* score, Py_ssize_t i, Py_ssize_t j) noexcept nogil:
    return score[i] < score[j] or (score[i] == score[j] and i > j)


cdef void heap_push(Py_ssize_t* heap, Py_ssize_t* size, Py_ssize_t W, const double* score,
                    Py_ssize_t i) noexcept nogil:
    cdef Py_ssize_t pos, up, down, child
    if size[0] == W:
        if not worse(score, heap[0], i):
            return
        pos = 0   # replace the worst, sift down
        while True:
            child = 2 * pos + 1
            if child >= W:
                break
            if child + 1 < W and worse(score, heap[child + 1], heap[child]):
                child += 1
            if not worse(score, heap[child], i):
                break
            heap[pos] = heap[child]
            pos = child
        heap[pos] = i
        return
    pos = size[0]
    size[0] += 1
    while pos > 0:
        up = (pos - 1) // 2
        if not worse(score, i, heap[up]):
            break
        heap[pos] = heap[up]
        pos = up
    heap[pos] = i


cdef class _Prior:
    """The prior of a beam search: log p(next label | prefix) of every label,
    from a callable, called once per distinct prefix of one search (rows of
    a batch share it); each trie node keeps the index of its row."""
    cdef object fn
    cdef list rows
    cdef dict index
    cdef Py_ssize_t C

    def __init__(self, fn, Py_ssize_t C):
        self.fn, self.rows, self.index, self.C = fn, [], {}, C

    cdef int row(self, Trie* tr, Py_ssize_t node, const double** out) except -1:
        cdef Py_ssize_t m = node
        cdef const double[::1] v
        if tr.prior_row[node] < 0:
            labels = []
            while m > 0:
                labels.append(tr.label[m])
                m = tr.parent[m]
            prefix = tuple(labels[::-1])
            i = self.index.get(prefix)
            if i is None:
                got = np.asarray(self.fn(prefix), dtype=np.float64)
                if got.shape != (self.C,):
                    raise ValueError(f"prior must return {self.C} log-probabilities (one "
                                     f"per class), got shape {got.shape}")
                if np.isnan(got).any() or (got == np.inf).any():
                    raise ValueError("prior returned NaN or +inf")
                i = self.index[prefix] = len(self.rows)
                self.rows.append(np.ascontiguousarray(got))
            tr.prior_row[node] = i
        v = self.rows[tr.prior_row[node]]
        out[0] = &v[0]
        return 0


def beam_search(const floating[:, :, ::1] logits, const Py_ssize_t[::1] input_lengths,
                Py_ssize_t blank, Py_ssize_t width, _Prior prior, double prior_weight,
                Py_ssize_t[:, ::1] labels, Py_ssize_t[::1] n_labels, double[::1] log_prob):
    """Prefix beam search (Hannun et al., 2014) of width ``width``.

    At each step every prefix of the beam either stays (a blank, or its last
    label again with no blank between) or grows by a label c; growing by its
    own last label needs a blank between, so only the blank-ending mass
    ``pb`` may do it.  Prefixes that meet are merged (their probabilities
    add), which is what makes this a search over labellings rather than
    paths.  With ``prior`` (a ``_Prior``, or None) growing by c also adds
    ``prior_weight * log p(c | prefix)``.  The beam keeps the ``width``
    prefixes of largest ``logaddexp(pb, pnb)``; the result is the best
    prefix after the last step, with that score in ``log_prob``.
    Without a prior the GIL is released; with one (Python code) the rows
    take it for each new prefix's prior.
    """
    cdef Py_ssize_t B = logits.shape[0], T = logits.shape[1], C = logits.shape[2]
    cdef Py_ssize_t b
    cdef int status = 0
    cdef void* pr = NULL if prior is None else <void*> prior
    fn = "beam_search"
    check_shape(fn, "input_lengths", input_lengths.shape, (B,), "B from logits")
    check_shape(fn, "labels", labels.shape, (B, T), "(B, T) from logits")
    check_shape(fn, "n_labels", n_labels.shape, (B,), "B from logits")
    check_shape(fn, "log_prob", log_prob.shape, (B,), "B from logits")
    if C == 0 or not 0 <= blank < C or width < 1:
        raise ValueError(f"{fn}: {C} classes with blank {blank}, width {width}")
    for b in range(B):
        if not 0 <= input_lengths[b] <= T:
            raise ValueError(f"{fn}: input length {input_lengths[b]} of row {b} "
                             f"outside [0, {T}]")
    with nogil:
        for b in range(B):
            status = beam_row(&logits[b, 0, 0], input_lengths[b], C, blank, width, pr,
                              prior_weight, &labels[b, 0], &n_labels[b], &log_prob[b])
            if status < 0:
                break
    if status < 0:
        raise MemoryError(f"{fn}: no memory for a beam of width {width} over "
                          f"{T} steps and {C} classes")


cdef int beam_row(const floating* z, Py_ssize_t Tb, Py_ssize_t C, Py_ssize_t blank,
                  Py_ssize_t W, void* prior, double weight, Py_ssize_t* out,
                  Py_ssize_t* n_out, double* score_out) except -2 nogil:
    """One row; returns 0, or -1 when out of memory.  An exception of the
    prior propagates (-2)."""
    cdef Trie tr
    # candidates: at most W beam prefixes and W * (C - 1) children
    cdef Py_ssize_t ncand = W * C, i, j, k, c, node, last, m, t
    cdef Py_ssize_t n_touched, n_new, n_beam, size
    cdef Py_ssize_t* ints = NULL
    cdef double* dbls = NULL
    cdef Py_ssize_t *beam
    cdef Py_ssize_t *touched
    cdef Py_ssize_t *new_parent
    cdef Py_ssize_t *new_label
    cdef Py_ssize_t *heap
    cdef double *old_pb
    cdef double *old_pnb
    cdef double *new_pnb
    cdef double *score
    cdef double *lp
    cdef const double* prow = NULL
    cdef double pb, pnb, ptot, add
    n_out[0] = 0
    score_out[0] = 0
    if Tb == 0:
        return 0
    if trie_init(&tr, W * Tb + 1) < 0:
        return -1
    ints = <Py_ssize_t*> malloc((2 * W + 3 * ncand) * sizeof(Py_ssize_t))
    dbls = <double*> malloc((2 * W + 3 * ncand + C) * sizeof(double))
    if ints == NULL or dbls == NULL:
        free(ints)
        free(dbls)
        trie_free(&tr)
        return -1
    beam, heap = ints, ints + W
    touched, new_parent, new_label = heap + W, heap + W + ncand, heap + W + 2 * ncand
    old_pb, old_pnb = dbls, dbls + W
    new_pnb, score = old_pnb + W, old_pnb + W + ncand   # score: 2 * ncand
    lp = score + 2 * ncand

    # the beam starts as the empty prefix, with probability 1 (pb = 0)
    beam[0], n_beam = 0, 1
    tr.pb[0], tr.pnb[0] = 0, -INFINITY
    try:
        for t in range(Tb):
            log_softmax_row(z + t * C, C, lp)
            n_touched, n_new = 0, 0
            # the beam's probabilities of step t-1, read before any
            # accumulator of step t overwrites them (a prefix of the beam
            # may be another's child)
            for i in range(n_beam):
                old_pb[i], old_pnb[i] = tr.pb[beam[i]], tr.pnb[beam[i]]
            for i in range(n_beam):
                node, pb, pnb = beam[i], old_pb[i], old_pnb[i]
                ptot = logaddexp(pb, pnb)
                last = tr.label[node]
                if prior != NULL:
                    with gil:
                        (<_Prior> prior).row(&tr, node, &prow)
                touch(&tr, node, t, touched, &n_touched)
                # stay: a blank, or the last label repeated without a blank
                tr.pb[node] = logaddexp(tr.pb[node], ptot + lp[blank])
                if last >= 0:
                    tr.pnb[node] = logaddexp(tr.pnb[node], pnb + lp[last])
                for c in range(C):
                    if c == blank:
                        continue
                    add = (pb if c == last else ptot) + lp[c]
                    if prow != NULL:
                        add = add + weight * prow[c]
                    m = find_child(&tr, node, c)
                    if m >= 0:
                        touch(&tr, m, t, touched, &n_touched)
                        tr.pnb[m] = logaddexp(tr.pnb[m], add)
                    else:   # (node, c) is unique: no other candidate merges with it
                        new_parent[n_new], new_label[n_new], new_pnb[n_new] = node, c, add
                        n_new += 1
            # candidate k: touched node k (k < n_touched), else new child k - n_touched
            size = 0
            for k in range(n_touched):
                node = touched[k]
                score[k] = logaddexp(tr.pb[node], tr.pnb[node])
                heap_push(heap, &size, W, score, k)
            for k in range(n_new):
                score[n_touched + k] = new_pnb[k]
                heap_push(heap, &size, W, score, n_touched + k)
            # the kept candidates are the beam; kept new children become nodes
            for i in range(size):
                k = heap[i]
                if k < n_touched:
                    beam[i] = touched[k]
                    continue
                k -= n_touched
                node, j = tr.n, new_parent[k]
                tr.n += 1
                tr.parent[node], tr.label[node] = j, new_label[k]
                tr.sibling[node], tr.child[j] = tr.child[j], node
                tr.child[node], tr.prior_row[node], tr.stamp[node] = -1, -1, t
                tr.pb[node], tr.pnb[node] = -INFINITY, new_pnb[k]
                beam[i] = node
            n_beam = size
        # the best prefix of the last beam (ties: the lower node)
        node, ptot = beam[0], logaddexp(tr.pb[beam[0]], tr.pnb[beam[0]])
        for i in range(1, n_beam):
            add = logaddexp(tr.pb[beam[i]], tr.pnb[beam[i]])
            if add > ptot or (add == ptot and beam[i] < node):
                node, ptot = beam[i], add
        score_out[0] = ptot
        m, j = 0, node
        while j > 0:
            m += 1
            j = tr.parent[j]
        n_out[0] = m
        while node > 0:
            m -= 1
            out[m] = tr.label[node]
            node = tr.parent[node]
    finally:
        free(ints)
        free(dbls)
        trie_free(&tr)
    return 0
